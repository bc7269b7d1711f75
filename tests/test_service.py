"""The running router end to end: real Redis, a real Celery worker, the real HTTP API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pagerduty

from router.queue.tasks import INGEST, INGEST_QUEUE, encode_batch
from router.state.publish import redis_sender
from tests.stack import PROFIT_AGGREGATE_KEY, Stack, running_stack, text_of, wait_until
from tests.support import RULES_DIR, pacific, queued

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"
EMAIL = {
    K: "kshama.kumar@example.com",
    A: "aruna.sharma@example.com",
    B: "biswa.rath@example.com",
    D: "disha.kapoor@example.com",
}
SLOW = {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "slow"}


def _incidents(stack: Stack, status: str | None = None) -> list[dict[str, Any]]:
    with stack.client() as client:
        params = {"status": status} if status else {}
        found: list[dict[str, Any]] = client.get("/v1/incidents", params=params).json()["incidents"]
        return found


def _timeline(stack: Stack, incident_id: str) -> list[dict[str, Any]]:
    with stack.client() as client:
        found: list[dict[str, Any]] = client.get(f"/v1/incidents/{incident_id}").json()["timeline"]
        return found


def test_pagerduty_client_trigger_pages_once_and_folds_the_rest(tuesday: Stack) -> None:
    sender = pagerduty.EventsApiV2Client(
        PROFIT_AGGREGATE_KEY, base_url=tuesday.url, verify=tuesday.tls
    )
    try:
        _trigger_eleven_times(tuesday, sender)
    finally:
        sender.close()


def _trigger_eleven_times(tuesday: Stack, sender: pagerduty.EventsApiV2Client) -> None:
    key = sender.trigger(
        "Aggregation failed: schema mismatch",
        "airflow",
        severity="critical",
        custom_details={"type": "aggregation_error"},
        dedup_key="agg-2026-11-24",
    )
    assert key == "agg-2026-11-24"
    (first,) = wait_until(lambda: tuesday.emails(), what="the page")
    assert first["To"] == EMAIL[K]  # P1 in business hours: the primary owner first
    assert first["Subject"].startswith("[P1] Aggregate profit")
    for n in range(10):
        assert (
            sender.trigger(
                f"still failing ({n})", "airflow", severity="critical", dedup_key="agg-2026-11-24"
            )
            == "agg-2026-11-24"
        )
    (incident,) = _incidents(tuesday)
    wait_until(
        lambda: len([e for e in _timeline(tuesday, incident["id"]) if e["kind"] == "event"]) == 11,
        what="11 events on the timeline",
    )
    assert incident["severity"] == "P1" and incident["type"] == "aggregation_error"
    assert len(tuesday.emails()) == 1


def test_escalation_runs_on_the_clock_until_acknowledged(tuesday: Stack) -> None:
    with tuesday.client() as client:
        accepted = client.post(
            "/v1/events",
            json={
                "pipeline": "growth.aggregate",
                "type": "chart_broken",
                "summary": "Chart 3 of the growth report is blank",
            },
        )
        assert accepted.status_code == 202, accepted.text
    wait_until(lambda: tuesday.recipients() == [EMAIL[B]], what="the page to the primary")
    tuesday.clock.advance(timedelta(seconds=1))
    tuesday.settle()
    (incident,) = _incidents(tuesday)
    assert tuesday.recipients() == [EMAIL[B]]  # 1 s in: the 2 s step has not run yet
    tuesday.clock.advance(timedelta(seconds=1))
    wait_until(
        lambda: tuesday.recipients() == sorted([EMAIL[B], EMAIL[D]]),
        what="the escalation to the secondary",
    )
    with tuesday.client() as client:
        acked = client.post(f"/v1/incidents/{incident['id']}/acknowledge")
    assert acked.status_code == 200 and acked.json()["incident"]["status"] == "acknowledged"
    tuesday.clock.advance(timedelta(minutes=10))  # every later step is now due
    tuesday.settle()
    # only the acknowledgement's timeout is left (P2: 4 hours, routing.yaml)
    assert tuesday.redis.zrange("ar:timers", 0, -1) == [
        f"ack_timeout:{incident['id']}:0:0".encode()
    ]
    assert tuesday.recipients() == sorted([EMAIL[B], EMAIL[D]])
    kinds = [e["kind"] for e in _timeline(tuesday, incident["id"])]
    assert kinds.count("message") == 2 and "decision" in kinds
    escalation = next(m for m in tuesday.emails() if m["To"] == EMAIL[D])
    assert escalation["Subject"] == tuesday.emails()[0]["Subject"]  # one thread
    assert f"escalated to you: {B} did not acknowledge in time" in text_of(escalation)


def test_weekend_p3_waits_for_monday(rules_dir: Path, tmp_path: Path) -> None:
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-28 03:00")) as stack:
        with stack.client() as client:
            for key in ("slow-1", "slow-2"):
                assert (
                    client.post(
                        "/v1/events",
                        json={
                            "pipeline": "growth.aggregate",
                            "type": "slow_query",
                            "dedup_key": key,
                            "summary": "Growth query p95 40 s",
                        },
                    ).status_code
                    == 202
                )
            wait_until(lambda: len(_incidents(stack)) == 2, what="two incidents")
            resolved = next(i for i in _incidents(stack) if i["dedup_key"] == "slow-2")
            assert client.post(f"/v1/incidents/{resolved['id']}/resolve").status_code == 200
        stack.clock.advance(timedelta(hours=10))  # Saturday 13:00: still the weekend
        stack.settle()
        assert all(i["decision"] == "defer" for i in _incidents(stack))
        assert stack.emails() == []
        stack.clock.set(pacific("2026-11-30 09:00"))  # Monday, business hours start
        (page,) = wait_until(lambda: stack.emails(), what="the deferred page")
        assert page["To"] == EMAIL[B]  # the owner of aggregate growth
        said = text_of(page)
        assert "this came in at Sat 2026-11-28 03:00 PST, during the weekend" in said
        assert "It waited for business hours" in said
        stack.clock.advance(timedelta(seconds=1))
        stack.settle()
        assert len(stack.emails()) == 1  # the resolved one never pages


def test_report_ready_emails_the_analysts_at_night(rules_dir: Path, tmp_path: Path) -> None:
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-25 03:00")) as stack:
        stack.send_event(
            {
                "pipeline": "engagement.aggregate",
                "type": "report_ready",
                "summary": "November engagement report",
                "details": {"data_date": "2026-11-24"},
                "links": [{"href": "https://reports.example.com/engagement/2026-11-24"}],
            }
        )
        (notice,) = wait_until(lambda: stack.emails(), timeout_s=5, what="the report-ready email")
        assert notice["To"] == "analyst@example.com"
        assert notice["Subject"] == "Aggregate engagement report ready for 2026-11-24"
        assert "https://reports.example.com/engagement/2026-11-24" in text_of(notice)
        assert _incidents(stack) == []


def test_missed_unit_profit_deadline_pages_on_call(rules_dir: Path, tmp_path: Path) -> None:
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-24 18:59")) as stack:
        stack.clock.advance(timedelta(seconds=30))
        stack.settle()
        assert _incidents(stack) == []
        stack.clock.set(pacific("2026-11-24 19:00:01"))
        (page,) = wait_until(
            lambda: [m for m in stack.emails() if m["X-Alert-Router-Kind"] == "data_late"],
            what="the data_late page",
        )
        assert page["To"] == EMAIL[B]  # on call on 24 Nov; unit-level profit has no owner
        stack.clock.advance(timedelta(seconds=1))  # more ticks raise nothing more
        stack.settle()
        (incident,) = _incidents(stack)
        assert incident["type"] == "data_late" and incident["category"] == "daily_data"
        assert incident["dedup_key"] == "profit.unit/data_late/2026-11-24"
        stack.send_event({"pipeline": "profit.unit", "type": "data_ready"})
        wait_until(lambda: _incidents(stack, "resolved"), what="data_ready to resolve it")
        assert len(_incidents(stack)) == 1


def test_deadline_met_raises_nothing(rules_dir: Path, tmp_path: Path) -> None:
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-24 18:00")) as stack:
        stack.send_event({"pipeline": "profit.unit", "type": "data_ready"})
        wait_until(lambda: stack.redis.exists("ar:ready:profit.unit:2026-11-24"))
        stack.clock.set(pacific("2026-11-24 19:30"))
        stack.settle()
        assert _incidents(stack) == [] and stack.emails() == []


def test_a_batch_of_1000_is_one_task(tmp_path: Path) -> None:
    batch = [{**SLOW, "dedup_key": f"slow-{n}"} for n in range(1000)]
    # every page to one person: without the digest, to count them (tests/test_digest.py)
    at = pacific("2026-11-24 10:00")
    with running_stack(RULES_DIR, tmp_path / "outbox", at, ROUTER_DIGEST_AFTER_PAGES="0") as stack:
        with stack.client() as client:
            answer = client.post("/v1/events", json=batch)
            assert answer.status_code == 202
            # Queued as one Celery message in the broker's list, not 1,000.
            assert stack.redis.llen(INGEST_QUEUE) <= 1
        assert [e["dedup_key"] for e in answer.json()["events"]][:2] == ["slow-0", "slow-1"]
        wait_until(
            lambda: stack.redis.zcard("ar:status:triggered") == 1000,
            timeout_s=60,
            what="1,000 incidents",
        )
        wait_until(lambda: stack.email_count() == 1000, timeout_s=60, what="1,000 pages")
        assert len(stack.emails()) == 1000


def test_open_means_triggered_or_acknowledged(tuesday: Stack) -> None:
    for key in ("slow-a", "slow-b", "slow-c"):
        tuesday.send_event({**SLOW, "dedup_key": key})
    wait_until(lambda: len(_incidents(tuesday)) == 3, what="three incidents")
    by_key = {i["dedup_key"]: i["id"] for i in _incidents(tuesday)}
    with tuesday.client() as client:
        assert client.post(f"/v1/incidents/{by_key['slow-b']}/acknowledge").is_success
        assert client.post(f"/v1/incidents/{by_key['slow-c']}/resolve").is_success
    assert {i["dedup_key"] for i in _incidents(tuesday, "open")} == {"slow-a", "slow-b"}
    assert {i["dedup_key"] for i in _incidents(tuesday, "triggered")} == {"slow-a"}


def test_a_p1_does_not_wait_behind_an_ingest_storm(tuesday: Stack) -> None:
    """Thirty 1,000-event batches already queued, then a P1 through the API: its page goes
    out while the storm is still waiting in router.ingest."""
    send = redis_sender(tuesday.redis)
    at = pacific("2026-11-24 10:00")
    for batch in range(30):
        storm = [
            queued(
                f"storm-{batch}-{n}",
                {**SLOW, "severity": "P4", "dedup_key": f"storm-{n % 100}"},
                at,
            )
            for n in range(1000)
        ]
        send(INGEST, encode_batch(storm), INGEST_QUEUE)
    tuesday.send_event(
        {"pipeline": "growth.aggregate", "type": "job_failed", "severity": "P1", "summary": "down"}
    )
    wait_until(lambda: tuesday.emails(), timeout_s=30, what="the P1 page")
    assert tuesday.redis.llen(INGEST_QUEUE) >= 1  # it went ahead of the storm
