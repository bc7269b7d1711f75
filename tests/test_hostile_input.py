"""Hand-picked hostile input, in-process (Starlette's TestClient, no worker): each gets
a 4xx JSON naming the field, or is accepted safely; never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from router.api.app import create_api
from router.core.events import parse_event
from router.core.incidents import apply_event
from router.delivery.mail.compose import Composer
from router.queue.tasks import QUEUES
from router.service.runtime import Runtime, build_runtime
from tests.stack import PROFIT_AGGREGATE_KEY, TOKEN, settings_for
from tests.support import RULES_DIR, pacific

GOOD = {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "slow"}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LONG = "x" * 101


@contextmanager
def _client(runtime: Runtime) -> Iterator[TestClient]:
    """Entered, so the app's lifespan closes its Redis connections."""
    with TestClient(create_api(runtime), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    built = build_runtime(settings_for(RULES_DIR, tmp_path / "outbox", db=4))
    built.redis.flushdb()
    yield built
    built.redis.flushdb()


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with _client(runtime) as client:
        yield client


def _pd(**payload: Any) -> dict[str, Any]:
    return {
        "routing_key": PROFIT_AGGREGATE_KEY,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "airflow", "severity": "error", **payload},
    }


def _am(starts_at: str) -> dict[str, Any]:
    labels = {"alertname": "X", "pipeline": "growth.aggregate", "type": "slow_query"}
    alert = {"status": "firing", "fingerprint": "f1", "labels": labels, "startsAt": starts_at}
    return {"version": "4", "status": "firing", "alerts": [alert]}


# The seven inputs that once answered 500, and the field each 400 names now.
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/events", {**GOOD, "occurred_at": "9999-12-31T23:59:59"}, "occurred_at"),
        ("/v1/events", {**GOOD, "occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
        ("/v1/alertmanager", _am("9999-12-31T23:59:59Z"), "occurred_at"),
        ("/v2/enqueue", _pd(timestamp="9999-12-31T23:59:59Z"), "occurred_at"),
        ("/v2/enqueue", _pd(**{"class": LONG}), "payload.class"),
        ("/v2/enqueue", _pd(custom_details={"type": LONG}), "payload.class"),
        ("/v2/enqueue", {**_pd(), "links": [{"href": ""}]}, "links.0.href"),
    ],
)
def test_once_500_now_400_naming_the_field(
    api: TestClient, path: str, body: Any, field: str
) -> None:
    answer = api.post(path, json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert any(field in error for error in answer.json()["errors"]), answer.json()


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b'{"pipeline": "growth.aggregate", "type": "x", "details": {"n": NaN}}', "NaN"),
        (b'{"pipeline": "growth.aggregate", "type": "x", "details": {"n": Infinity}}', "Infinity"),
        ('{"pipeline": "growth.aggregate", "type": "\u00e9"}'.encode("latin-1"), "not UTF-8"),
        (b"[" * 5000 + b"]" * 5000, "nested deeper"),
        (b"{", "body:"),
    ],
)
def test_bodies_that_are_not_sound_json(api: TestClient, raw: bytes, said: str) -> None:
    answer = api.post(
        "/v1/events", content=raw, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400, answer.text
    assert said in answer.json()["message"]


def test_deep_details_are_refused(api: TestClient) -> None:
    answer = api.post("/v1/events", json={**GOOD, "details": _nested(40)}, headers=AUTH)
    assert answer.status_code == 400 and "nested deeper" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([GOOD] * 1001, "body: 1001 events"),
        ({**GOOD, "summary": "s" * 1025}, "summary: String should have at most 1024"),
        ({**GOOD, "links": [{"href": "javascript:alert(1)"}]}, "links.0.href"),
        ({**GOOD, "links": [{"href": "https://x.example.com/a\r\nb"}]}, "links.0.href"),
        ({**GOOD, "occurred_at": "2026-11-24T10:00:00+24:00"}, "occurred_at"),
    ],
)
def test_refused_with_the_field_named(api: TestClient, body: Any, field: str) -> None:
    answer = api.post("/v1/events", json=body, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert any(field in error for error in answer.json()["errors"]), answer.json()


@pytest.mark.parametrize(
    "occurred_at",
    ["2026-11-24T10:00:00+14:00", "2026-11-24T10:00:00-12:00", "2026-11-24T10:00+05:45"],
)
def test_odd_offsets_are_accepted(api: TestClient, runtime: Runtime, occurred_at: str) -> None:
    answer = api.post("/v1/events", json={**GOOD, "occurred_at": occurred_at}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    assert sum(runtime.redis.llen(queue) for queue in QUEUES) == 1


def test_line_breaks_never_reach_email_headers(runtime: Runtime) -> None:
    rules, now = runtime.rules, pacific("2026-11-24 10:00")
    event = parse_event(
        {**GOOD, "type": "permission_denied", "summary": "denied\r\nBcc: thief@evil.example"},
        rules,
        now,
    )
    outcome = apply_event({}, event, rules, now, "inc-1")
    assert outcome.opened is not None
    settings = runtime.settings
    composer = Composer(settings.templates_dir, rules, settings.public_url, b"k" * 16, 3600)
    name = outcome.opened.escalation[0].notify[0]
    message = composer.incident_message("page", outcome.opened, name, 0, now, key="k")
    sent = message.to_email("alert-router@example.com", now)
    assert sent["Bcc"] is None and "\n" not in str(sent["Subject"])
    assert "thief@evil.example" not in str(sent["Subject"])


def test_unknown_routes_and_methods_answer_json(api: TestClient) -> None:
    missing = api.get("/nowhere", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["status"] == "not found"
    wrong = api.delete("/v1/events", headers=AUTH)
    assert wrong.status_code == 405 and wrong.json()["errors"]


def test_redis_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    from tests.stack import free_port

    dead = build_runtime(
        settings_for(RULES_DIR, tmp_path / "outbox", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    )
    with _client(dead) as api:
        answers = [
            api.post("/v1/events", json=GOOD, headers=AUTH),
            api.get("/v1/incidents", headers=AUTH),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] and answer.json()["status"] == "service unavailable"


BIG = {"log": "x" * (480 * 1024)}  # 480 KB of details: under the 512 KB body cap


def _queued(runtime: Runtime) -> int:
    return sum(runtime.redis.llen(queue) for queue in QUEUES)


def test_480_kb_of_details_is_a_400_naming_details(api: TestClient, runtime: Runtime) -> None:
    answer = api.post("/v1/events", json={**GOOD, "details": BIG}, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == [
        "details: 491,530 bytes, over the 16,384-byte limit (ROUTER_MAX_DETAILS_BYTES)"
    ]
    assert _queued(runtime) == 0


def test_a_batch_with_one_event_over_the_cap_is_refused_whole(
    api: TestClient, runtime: Runtime
) -> None:
    batch = [GOOD, {**GOOD, "details": {"log": "x" * 20_000}}, GOOD]
    answer = api.post("/v1/events", json=batch, headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"] == [
        "[1] details: 20,010 bytes, over the 16,384-byte limit (ROUTER_MAX_DETAILS_BYTES)"
    ]
    assert _queued(runtime) == 0
    small = [{**GOOD, "details": {"log": "x" * 16_000}}] * 3  # each under: the body is not
    assert api.post("/v1/events", json=small, headers=AUTH).status_code == 202
    assert _queued(runtime) == 1


def test_the_other_schemas_name_their_own_fields(api: TestClient, runtime: Runtime) -> None:
    pd = api.post("/v2/enqueue", json=_pd(custom_details=BIG), headers=AUTH)
    assert pd.status_code == 400, pd.text
    assert pd.json()["errors"][0].startswith("payload.custom_details: 491,5")
    am = _am("2026-11-24T10:00:00Z")
    am["alerts"] = [am["alerts"][0], {**am["alerts"][0], "annotations": BIG}]
    answer = api.post("/v1/alertmanager", json=am, headers=AUTH)
    assert answer.status_code == 400, answer.text
    (error,) = answer.json()["errors"]
    assert error.startswith("[1] labels and annotations: 491,")
    assert error.endswith("over the 16,384-byte limit (ROUTER_MAX_DETAILS_BYTES)")
    many = [{"href": f"https://ci.example.com/runs/{n}"} for n in range(600)]
    links = api.post("/v1/events", json={**GOOD, "links": many}, headers=AUTH)
    assert links.status_code == 400 and links.json()["errors"][0].startswith("links: ")
    assert _queued(runtime) == 0


def test_the_cap_is_a_setting(tmp_path: Path) -> None:
    settings = settings_for(RULES_DIR, tmp_path / "outbox", db=4, ROUTER_MAX_DETAILS_BYTES="100")
    with _client(build_runtime(settings)) as api:
        over = api.post("/v1/events", json={**GOOD, "details": {"s": "x" * 93}}, headers=AUTH)
        at = api.post("/v1/events", json={**GOOD, "details": {"s": "x" * 92}}, headers=AUTH)
    assert over.status_code == 400 and "101 bytes, over the 100-byte limit" in over.text
    assert at.status_code == 202, at.text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/email/acknowledge", "GET, POST"),  # two routes at one path
        ("OPTIONS", "/v1/absences", "GET, POST"),
        ("DELETE", "/v1/events", "POST"),
    ],
)
def test_a_405_lists_every_method_of_the_path(
    api: TestClient, method: str, path: str, allow: str
) -> None:
    answer = api.request(method, path, headers=AUTH)
    assert answer.status_code == 405 and answer.headers["allow"] == allow


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "code"),
    [
        ("POST", "/v1/events", {"pipeline": "nope"}, AUTH, 400),
        ("POST", "/v1/events", b"{not json", AUTH, 400),
        ("POST", "/v1/events", b"[" + b" " * 600_000 + b"]", AUTH, 413),
        ("POST", "/v1/events", GOOD, {}, 401),
        ("POST", "/v1/alertmanager", {"version": "4"}, AUTH, 400),
        ("GET", "/v1/incidents?next=nonsense", None, AUTH, 400),
        ("GET", "/v1/incidents/no-such-incident", None, AUTH, 404),
        ("POST", "/v1/incidents/no-such-incident/acknowledge", {}, AUTH, 404),
        ("DELETE", "/v1/events", None, AUTH, 405),
        ("POST", "/v1/absences", {"engineer": "Nobody"}, AUTH, 400),
    ],
)
def test_every_error_has_one_shape(
    api: TestClient,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    code: int,
) -> None:
    """{status, message, errors} on every endpoint, `status` the HTTP reason in words;
    PagerDuty's /v2/enqueue alone answers as PagerDuty does (test_api.py)."""
    content = body if isinstance(body, bytes) else None
    answer = api.request(
        method, path, headers=headers, content=content, json=None if content else body
    )
    assert answer.status_code == code, answer.text
    said = answer.json()
    assert set(said) == {"status", "message", "errors"}, said
    assert said["status"] == HTTPStatus(code).phrase.lower()
    assert said["message"] and said["errors"] and all(isinstance(e, str) for e in said["errors"])
