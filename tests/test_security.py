"""Security basics: who may read and write, what browsers are told, what never reaches a
log, and which routing keys work."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from router.api.app import create_api
from router.config.settings import Settings, SettingsInvalid, load_settings
from router.core.links import LinkClaim, sign
from router.queue.tasks import QUEUES
from router.service.runtime import Runtime, build_runtime
from tests.redis_server import RedisServer
from tests.stack import PROFIT_AGGREGATE_KEY, TOKEN, running_stack, settings_for, wait_until
from tests.support import RULES_DIR, pacific

AUTH = {"Authorization": f"Bearer {TOKEN}"}
GOOD = {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "slow"}
MakeApi = Callable[..., tuple[TestClient, Runtime]]


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[MakeApi]:
    made: list[Runtime] = []
    with ExitStack() as entered:  # entered clients: the lifespan closes Redis connections

        def make(**extra: str) -> tuple[TestClient, Runtime]:
            runtime = build_runtime(settings_for(RULES_DIR, tmp_path / "outbox", db=5, **extra))
            runtime.redis.flushdb()
            made.append(runtime)
            client = TestClient(create_api(runtime), raise_server_exceptions=False)
            return entered.enter_context(client), runtime

        yield make
    for runtime in made:
        runtime.redis.flushdb()


def test_tokens_are_compared_in_constant_time(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, _ = make_api(ROUTER_API_TOKENS="first-token,second-token")
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert api.get("/v1/incidents", headers={"Authorization": "Bearer first-token"}).is_success
    # every configured token is compared, whichever matches: the time says nothing
    assert [b for _, b in compared] == [b"first-token", b"second-token"]


@pytest.mark.parametrize(
    "path", ["/v1/incidents", "/v1/incidents/x", "/v1/oncall", "/v1/dead-letters"]
)
def test_read_endpoints_need_a_credential(make_api: MakeApi, path: str) -> None:
    api, _ = make_api()
    answer = api.get(path)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert api.get(path, headers=AUTH).status_code in (200, 404)


def test_pages_tell_browsers_to_be_careful(make_api: MakeApi) -> None:
    api, _ = make_api()
    page = api.get("/email/acknowledge", params={"token": "x.y"})
    assert page.status_code == 400
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Request-ID"]


def test_docs_work_offline(make_api: MakeApi) -> None:
    api, _ = make_api()
    docs = api.get("/docs")
    assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    assert api.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert api.get("/docs/assets/swagger-ui.css").status_code == 200
    off, _ = make_api(ROUTER_API_DOCS="false")
    assert off.get("/docs").status_code == 404


def test_rate_limit_per_token(make_api: MakeApi) -> None:
    api, _ = make_api(ROUTER_RATE_LIMIT_PER_MIN="3")
    answers = [api.get("/v1/oncall", headers=AUTH) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
    unlimited, _ = make_api()
    assert all(unlimited.get("/v1/oncall", headers=AUTH).is_success for _ in range(5))


def _queued(runtime: Runtime) -> int:
    return sum(int(runtime.redis.llen(queue)) for queue in QUEUES)


def test_a_sender_over_its_events_limit_gets_429_and_nothing_is_queued(
    make_api: MakeApi,
) -> None:
    """ROUTER_EVENTS_LIMIT events per window from one token, and apart from it from one
    PagerDuty integration: the request that would pass it is refused whole."""
    api, runtime = make_api(ROUTER_EVENTS_LIMIT="5", ROUTER_EVENTS_LIMIT_WINDOW_S="300")
    three = [
        {"pipeline": "growth.aggregate", "type": "job_failed", "dedup_key": f"f{n}"}
        for n in range(3)
    ]
    assert api.post("/v1/events", json=three, headers=AUTH).status_code == 202
    queued = _queued(runtime)
    refused = api.post("/v1/events", json=three, headers=AUTH)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 300
    said = refused.json()["message"]
    assert "events limit" in said and "5 events every 300 s; 3 sent" in said and "has 3" in said
    assert _queued(runtime) == queued  # nothing of it
    assert api.post("/v1/events", json=three[:2], headers=AUTH).status_code == 202  # 5 in all
    assert api.post("/v1/events", json=three[:1], headers=AUTH).status_code == 429

    event = {
        "routing_key": PROFIT_AGGREGATE_KEY,
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "error"},
    }
    answers = [api.post("/v2/enqueue", json=event).status_code for _ in range(6)]
    assert answers == [202] * 5 + [429]  # the integration's own count
    unlimited, _ = make_api()
    assert all(
        unlimited.post("/v1/events", json=three, headers=AUTH).status_code == 202 for _ in range(3)
    )


def test_no_routing_key_in_the_repo_works(make_api: MakeApi) -> None:
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    routing = (RULES_DIR / "routing.yaml").read_text(encoding="utf-8")
    assert "routing_key:" not in routing  # keys live in the environment only
    event = {
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "x", "severity": "critical"},
    }
    api, _ = make_api()
    # the key the README once printed, and every hex key the README shows now
    shown = {"d53d678a93961d12cd4ca59a813f70aa", *re.findall(r"\b[0-9a-f]{32}\b", readme)}
    for key in shown:
        assert api.post("/v2/enqueue", json={**event, "routing_key": key}).status_code == 401
    good = api.post("/v2/enqueue", json={**event, "routing_key": PROFIT_AGGREGATE_KEY})
    assert good.status_code == 202, good.text


def test_routing_keys_must_be_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_ROUTING_KEYS", "profit-aggregate=short")
    with pytest.raises(SettingsInvalid, match="32\\+ characters"):
        load_settings()


def test_event_links_are_web_links_on_an_allow_list(make_api: MakeApi) -> None:
    api, _ = make_api(ROUTER_LINK_HOSTS="reports.example.com")
    bad = {**GOOD, "links": [{"href": "javascript:alert(document.cookie)"}]}
    assert "links.0.href" in api.post("/v1/events", json=bad, headers=AUTH).json()["errors"][0]
    elsewhere = {**GOOD, "links": [{"href": "https://phish.example.net/login"}]}
    refused = api.post("/v1/events", json=elsewhere, headers=AUTH)
    assert refused.status_code == 400 and "ROUTER_LINK_HOSTS" in refused.json()["errors"][0]
    fine = {**GOOD, "links": [{"href": "https://reports.example.com/growth"}]}
    assert api.post("/v1/events", json=fine, headers=AUTH).status_code == 202


def test_readyz_warns_when_redis_does_not_persist(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = server.client()
        client.zadd("ar:workers", {"w": 4e9})  # a heartbeat from far in the future
        settings = settings_for(RULES_DIR, tmp_path / "outbox", REDIS_URL=server.url())
        with TestClient(create_api(build_runtime(settings))) as api:
            assert "warnings" not in api.get("/readyz").json()  # appendonly yes
            client.config_set("appendonly", "no")
            said = api.get("/readyz").json()
        assert said["status"] == "ready" and "does not persist" in said["warnings"][0]
    finally:
        server.stop()


def test_secrets_never_reach_the_logs(
    rules_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole run: events, a page, an email link opened and used, a bad token, a
    PagerDuty event, an inbound reply by SendGrid: no token, key, inbound secret or link
    token in any log line."""
    inbound = "inbound-secret-0123456789"
    at = pacific("2026-11-24 10:00")
    with running_stack(rules_dir, tmp_path / "outbox", at, ROUTER_INBOUND_SECRET=inbound) as stack:
        caplog.set_level(logging.DEBUG)  # after the test worker set the root logger's level
        settings: Settings = stack.runtime.settings
        stack.send_event({**GOOD, "type": "permission_denied"})
        wait_until(stack.emails, what="the page")
        incident = stack.runtime.engine.store.listing(None)[0]
        secret = settings.secret_key.get_secret_value().encode()
        now = stack.clock.now()
        token = sign(
            LinkClaim(incident=incident.id, recipient="Biswa Kalyan Rath", action="acknowledge",
                      expires_ts=int(now.timestamp()) + 600),
            secret,
        )  # fmt: skip
        with stack.client() as client:
            assert client.get("/email/acknowledge", params={"token": token}).is_success
            assert client.post("/email/acknowledge", data={"token": token}).is_success
            client.get("/v1/incidents", headers={"Authorization": "Bearer not-the-token"})
            client.post("/v2/enqueue", json={"routing_key": PROFIT_AGGREGATE_KEY,
                        "event_action": "trigger", "payload": {"summary": "s", "source": "x",
                        "severity": "info"}})  # fmt: skip
            for password in (inbound, "wrong"):
                client.post("/v1/inbound/sendgrid", files={"text": (None, "ack")},
                            auth=("sendgrid", password))  # fmt: skip
        stack.settle()
    # everything the router logged; the test's own HTTP client (httpx) logs its URLs
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "GET /email/acknowledge 200" in logged  # the access log ran
    for secret_text in (TOKEN, "test-secret-key", PROFIT_AGGREGATE_KEY, token, token[:40], inbound):
        assert secret_text not in logged
