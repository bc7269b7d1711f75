"""The API's edges: credentials, bad input named by field, size limits, nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from router.queue.tasks import QUEUES
from tests.stack import Stack, running_stack, wait_until
from tests.support import RULES_DIR, pacific

GOOD = {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "slow"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    outbox = tmp_path_factory.mktemp("api") / "outbox"
    with running_stack(RULES_DIR, outbox, pacific("2026-11-24 10:00")) as running:
        yield running


def _nothing_written(stack: Stack) -> bool:
    """No router state and no queued task (Celery's own bookkeeping keys aside)."""
    state = [k for k in stack.redis.scan_iter("ar:*") if k != b"ar:workers"]
    return not state and not any(stack.redis.llen(queue) for queue in QUEUES)


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic eA=="}, 401)],
)
def test_write_endpoints_need_a_credential(
    stack: Stack, headers: dict[str, str], status: int
) -> None:
    with httpx.Client(base_url=stack.url, verify=stack.tls, headers=headers) as client:
        for path, body in [
            ("/v1/events", GOOD),
            ("/v1/alertmanager", {}),
            ("/v1/incidents/x/acknowledge", None),
        ]:
            answer = client.post(path, json=body)
            assert answer.status_code == status, (path, answer.text)
            assert "credential" in answer.json()["message"]
    assert _nothing_written(stack)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"pipeline": "profit.total", "type": "x"}, "pipeline: unknown pipeline 'profit.total'"),
        ({**GOOD, "severity": "urgent"}, "severity: Input should be 'P1', 'P2', 'P3' or 'P4'"),
        ({**GOOD, "occurred_at": "last night"}, "occurred_at: Input should be a valid datetime"),
        ({**GOOD, "colour": "red"}, "colour: unknown field"),
        ([GOOD, {**GOOD, "severity": "P9"}], "[1] severity: Input should be"),
        ([GOOD, {"pipeline": "nope", "type": "x"}], "[1] pipeline: unknown pipeline 'nope'"),
        ([], "body: 0 events"),
        ([GOOD] * 1001, "body: 1001 events"),
        ("just text", "event: Input should be a valid dictionary"),
    ],
)
def test_bad_events_are_refused_whole(stack: Stack, body: Any, error: str) -> None:
    with stack.client() as client:
        answer = client.post("/v1/events", json=body)
    assert answer.status_code == 400, answer.text
    said = answer.json()
    assert said["status"] == "bad request"
    assert any(e.startswith(error) for e in said["errors"]), said
    assert _nothing_written(stack)


def test_body_over_512_kb_is_413(stack: Stack) -> None:
    big = {**GOOD, "details": {"blob": "x" * (512 * 1024)}}
    with stack.client() as client:
        answer = client.post("/v1/events", json=big)
        assert answer.status_code == 413
        streamed = client.post(
            "/v1/events",
            content=iter([b"[", b" " * (600 * 1024), b"]"]),
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
    assert _nothing_written(stack)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {
                "routing_key": "0" * 32,
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "error"},
            },
            401,
            "routing_key: no integration has this key",
        ),
        (
            {"routing_key": "d53d678a93961d12cd4ca59a813f70aa", "event_action": "trigger"},
            400,
            "'payload' is missing or blank",
        ),
        (
            {
                "routing_key": "d53d678a93961d12cd4ca59a813f70aa",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "x", "severity": "fatal"},
            },
            400,
            "'payload.severity' Input should be",
        ),
        (
            {"routing_key": "d53d678a93961d12cd4ca59a813f70aa", "event_action": "resolve"},
            400,
            "'dedup_key' is missing or blank",
        ),
    ],
)
def test_pagerduty_errors_look_like_pagerduty(
    stack: Stack, body: dict[str, Any], status: int, error: str
) -> None:
    with httpx.Client(base_url=stack.url, verify=stack.tls) as client:
        answer = client.post("/v2/enqueue", json=body)
    assert answer.status_code == status
    said = answer.json()
    assert said["status"] == "invalid event"
    assert any(e.startswith(error) for e in said["errors"]), said
    assert _nothing_written(stack)


def test_unknown_incident_is_404(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/v1/incidents/nope").status_code == 404
        assert client.post("/v1/incidents/nope/resolve").status_code == 404


def test_health_and_oncall(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = wait_until(lambda: client.get("/readyz").status_code == 200, what="/readyz")
        assert ready
        oncall = client.get("/v1/oncall").json()
        assert oncall["now"]["name"] == "Biswa Kalyan Rath"
        assert oncall["next"][0]["holiday_period"] is True  # Thanksgiving from 25 Nov
        assert client.get("/docs").status_code == 200


def test_readyz_without_a_worker_heartbeat(stack: Stack) -> None:
    stack.redis.delete("ar:workers")
    with stack.client() as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["worker"] == "no recent heartbeat"
    wait_until(lambda: stack.redis.zcard("ar:workers"), what="the next heartbeat")
