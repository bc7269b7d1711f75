"""Fault drills: the router's processes, a Redis the drill owns, and something killed
at the worst moment. Every accepted event is folded, every page is sent exactly once."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from router import keys
from router.incidents import Incident
from router.mail.backends.sendgrid import SendGridBackend
from router.tasks import URGENT_QUEUE
from tests.deployment import Deployment, message_ids
from tests.mailservers import sendgrid_server, smtp_server
from tests.redis_server import RedisServer
from tests.stack import Stack, free_port, running_stack, wait_until
from tests.support import copy_rules, pacific

pytestmark = pytest.mark.drill
PAGE_WITHIN_S = 60


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def _p1_batch(batch: int, size: int = 1000) -> list[dict[str, Any]]:
    return [
        {
            "pipeline": "growth.aggregate",
            "type": "job_failed",
            "severity": "P1",
            "dedup_key": f"storm-{batch}-{n}",
            "summary": f"Growth job {batch}-{n} failed",
        }
        for n in range(size)
    ]


def _post_batches(deployment: Deployment, batches: int) -> list[str]:
    accepted = []
    for batch in range(batches):
        answer = deployment.post("/v1/events", _p1_batch(batch))
        assert answer.status_code == 202, answer.text
        accepted += [event["event_id"] for event in answer.json()["events"]]
    return accepted


def _opened(deployment: Deployment) -> int:
    with deployment.client() as client:
        return int(client.zcard(keys.status("triggered")))


def _each_page_once(deployment: Deployment, inbox: Any, pages: int, since: float) -> None:
    wait_until(
        lambda: len(set(message_ids(inbox))) >= pages, timeout_s=PAGE_WITHIN_S + 30, what="pages"
    )
    took_s = time.monotonic() - since
    assert took_s <= PAGE_WITHIN_S, f"the last page went out {took_s:.0f} s after the kill"
    # Whatever the dead worker held comes back after the redelivery timeout: wait for it.
    wait_until(deployment.idle, timeout_s=90, what="every task and timer to be done")
    counts = Counter(message_ids(inbox))
    assert len(counts) == pages
    assert [key for key, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("kill", ["whole worker", "pool child"])
def test_worker_killed_mid_fold_pages_every_event_once(
    kill: str, tmp_path: Path, own_redis: RedisServer
) -> None:
    """4,000 P1 events in four batches of 1,000; the worker dies right after the last is
    accepted, holding batches and pages. Redelivery after 10 s, not the default 30 s: the
    mechanism is the same, the suite is shorter."""
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(tmp_path, own_redis, smtp_port, ROUTER_REDELIVER_AFTER_S="10")
        try:
            deployment.api()
            deployment.scheduler()
            worker = deployment.worker()
            accepted = _post_batches(deployment, 4)
            # A batch folds in one transaction, so "mid-fold" is "with batches and pages in
            # hand": the kill comes as soon as the last batch is accepted.
            assert not deployment.idle(), "everything was done before the kill"
            killed_at = time.monotonic()
            if kill == "whole worker":
                Deployment.kill(worker)
                deployment.worker()
            else:
                for child in Deployment.pool_children(worker):
                    os.kill(child, signal.SIGKILL)
            _each_page_once(deployment, inbox, 4000, killed_at)
            assert _opened(deployment) == len(accepted) == 4000
        finally:
            deployment.stop()


def _planned_keys(deployment: Deployment) -> set[str]:
    """The idempotency key of every message the open incidents' plans call for."""
    with deployment.client() as client:
        ids = [i.decode() for i in client.zrange(keys.status("triggered"), 0, -1)]
        found = set()
        for raw in client.mget([keys.incident(i) for i in ids]) if ids else []:
            incident = Incident.model_validate_json(raw)
            for step in incident.escalation:
                found |= {f"{incident.id}:{step.round}:{step.step}:{n}" for n in step.notify}
        return found


def _all_folded(deployment: Deployment, event_ids: list[str]) -> bool:
    try:
        with deployment.client() as client, client.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.exists(keys.seen(event_id))
            return all(pipe.execute())
    except redis.RedisError:
        return False


def _wait_in_hand(deployment: Deployment, task: bytes) -> None:
    """Until a worker has taken a `task` off its queue and not yet acknowledged it (the
    fold of a batch lasts a fraction of a second: polled without pause)."""
    deadline = time.monotonic() + 30
    with deployment.client() as client:
        while time.monotonic() < deadline:
            if any(task in raw for raw in client.hvals("unacked")):
                return
    raise AssertionError(f"no worker took {task!r} in 30 s")


def _two_second_rules(tmp_path: Path) -> Path:
    def fast(data: dict[str, Any]) -> None:
        for policy in data["escalation_policies"].values():
            for step in policy["steps"]:
                step["after"] = "2s"

    return copy_rules(tmp_path / "rules", routing=fast)


def _p4_batch(batch: int, size: int = 1000) -> list[dict[str, Any]]:
    return [
        {"pipeline": "engagement.aggregate", "type": "job_failed", "severity": "P4",
         "dedup_key": f"bulk-{batch}-{n}", "summary": "recorded, never pages"}
        for n in range(size)
    ]  # fmt: skip


def test_redis_killed_and_restarted_loses_no_event_and_doubles_no_page(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """Escalation timers pending (2 s steps) and 1,000-event batches being posted and
    folded when Redis is SIGKILLed; it comes back from its append-only file."""
    smtp_port = free_port()
    rules = _two_second_rules(tmp_path)
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(
            tmp_path,
            own_redis,
            smtp_port,
            rules,
            ROUTER_TIMER_LEASE_S="10",
            ROUTER_REDELIVER_AFTER_S="10",
        )
        try:
            deployment.api()
            deployment.scheduler()
            deployment.worker()
            urgent = deployment.post("/v1/events", _p1_batch(0, size=10))
            assert urgent.status_code == 202
            wait_until(lambda: message_ids(inbox), timeout_s=30, what="the first pages")
            accepted: list[str] = []
            refused = 0
            down = False
            for batch in range(3):
                while True:  # a client retries what was not accepted, as pipelines do
                    try:
                        answer = deployment.post("/v1/events", _p4_batch(batch))
                    except httpx.HTTPError:
                        answer = None
                    if answer is not None and answer.status_code == 202:
                        accepted += [e["event_id"] for e in answer.json()["events"]]
                        break
                    assert answer is None or answer.status_code == 503, answer.text
                    assert answer is None or answer.headers["Retry-After"]
                    refused += 1
                    if not own_redis.process:
                        own_redis.start()  # back, with its append-only file
                if batch == 0:  # killed while a worker holds the batch: folding it
                    _wait_in_hand(deployment, b"router.ingest")
                    own_redis.kill()
                    down = True
            assert down and refused >= 1
            wait_until(lambda: _all_folded(deployment, accepted), timeout_s=90, what="every event")
            planned = _planned_keys(deployment)
            try:
                wait_until(lambda: planned <= set(message_ids(inbox)), timeout_s=90)
            except AssertionError:
                missing = sorted(planned - set(message_ids(inbox)))
                got = sorted(set(message_ids(inbox)))
                raise AssertionError(
                    f"{len(missing)} pages missing: {missing[:3]}; got {len(got)}: {got[:3]}"
                ) from None
            wait_until(deployment.idle, timeout_s=90, what="every task and timer to be done")
            counts = Counter(message_ids(inbox))
            assert set(counts) == planned
            assert [key for key, n in counts.items() if n > 1] == []
            assert _opened(deployment) == 10 + len(accepted) == 3010
        finally:
            deployment.stop()


def test_schedulers_killed_or_doubled_send_each_step_once(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    smtp_port = free_port()
    rules = _two_second_rules(tmp_path)
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(tmp_path, own_redis, smtp_port, rules)
        try:
            deployment.api()
            doomed = deployment.scheduler()
            deployment.scheduler()  # two at once
            deployment.worker()
            assert deployment.post("/v1/events", _p1_batch(0, size=20)).status_code == 202
            wait_until(lambda: len(message_ids(inbox)) >= 20, timeout_s=30, what="pages")
            Deployment.kill(doomed)  # with the escalation steps falling due
            deployment.scheduler()
            planned = _planned_keys(deployment)
            wait_until(lambda: planned <= set(message_ids(inbox)), timeout_s=90, what="every step")
            wait_until(deployment.idle, timeout_s=90, what="every task and timer to be done")
            counts = Counter(message_ids(inbox))
            assert set(counts) == planned and len(planned) > 20
            assert [key for key, n in counts.items() if n > 1] == []
        finally:
            deployment.stop()


def _timers_queued(client: redis.Redis) -> int:
    """Timer members in the fire tasks waiting in router.urgent (a task carries a list)."""
    count = 0
    for raw in client.lrange(URGENT_QUEUE, 0, -1):
        envelope = json.loads(raw)
        (argument,), _, _ = json.loads(base64.b64decode(envelope["body"]))
        count += len(argument) if isinstance(argument, list) else 1
    return count


def test_a_timer_backlog_longer_than_the_lease_sends_each_step_once(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """No worker for a while: the scheduler hands out each due step again every lease
    (1 s here), so the queue holds copies; the worker then sends each page once.

    The mail server is down until the backlog is there: the first page goes out from the
    fold itself, and a worker killed between a server's "250 OK" and its `sent` marker
    would send it twice. That is delivery at least once (README), not this drill's topic."""
    smtp_port = free_port()
    deployment = Deployment(
        tmp_path,
        own_redis,
        smtp_port,
        ROUTER_TIMER_LEASE_S="1",
        ROUTER_SMTP_TIMEOUT_S="0.5",
        ROUTER_REDELIVER_AFTER_S="5",  # what the killed worker held: not this drill's topic
    )
    try:
        deployment.api()
        deployment.scheduler()
        ingest = deployment.worker()
        assert deployment.post("/v1/events", _p1_batch(0, size=20)).status_code == 202
        wait_until(lambda: _opened(deployment) == 20, what="the incidents")
        Deployment.kill(ingest)
        with deployment.client() as client:
            wait_until(lambda: _timers_queued(client) >= 60, timeout_s=30, what="3 copies a step")
        with smtp_server(smtp_port) as inbox:
            deployment.worker()
            wait_until(lambda: len(set(message_ids(inbox))) >= 20, timeout_s=90, what="pages")
            wait_until(deployment.idle, timeout_s=90, what="the backlog to drain")
            counts = Counter(message_ids(inbox))
        assert len(counts) == 20
        assert [key for key, n in counts.items() if n > 1] == []
    finally:
        deployment.stop()


def test_sendgrid_down_for_ten_minutes_then_each_message_once(
    rules_dir: Path, tmp_path: Path
) -> None:
    """SendGrid answers 503 for ten minutes of the router's clock: pages, escalation steps
    and a report-ready notice all wait out their back-off, then go once each."""
    with sendgrid_server() as (fake, url):
        fake.outage = (503, {})
        backend = SendGridBackend("SG.test", host=url)
        start = pacific("2026-11-24 10:00")
        with running_stack(rules_dir, tmp_path / "outbox", start, backend) as stack:
            for n in range(3):
                stack.send_event({**CHART, "dedup_key": f"chart-{n}"})
            report_id = stack.send_event(REPORT)["events"][0]["event_id"]
            stack.settle()
            for _ in range(60):  # ten minutes, ten seconds at a time
                stack.clock.advance(timedelta(seconds=10))
                stack.settle()
            tried = len(fake.requests)
            assert fake.delivered == [] and tried > 20
            fake.outage = None
            stack.clock.advance(timedelta(minutes=5))  # the longest back-off
            stack.settle()
            sent = Counter(r["custom_args"]["idempotency_key"] for r in fake.delivered)
            planned = _stack_planned_keys(stack)
            assert set(sent) == planned | {f"notice:{report_id}:analyst@example.com"}
            assert [key for key, n in sent.items() if n > 1] == []
            assert not stack.redis.zcard(keys.TIMERS)  # nothing left to retry


CHART = {"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "chart blank"}
REPORT = {"pipeline": "engagement.aggregate", "type": "report_ready", "summary": "November"}


def _stack_planned_keys(stack: Stack) -> set[str]:
    found = set()
    for incident in stack.runtime.engine.store.listing(None):
        for step in incident.escalation:
            found |= {f"{incident.id}:{step.round}:{step.step}:{n}" for n in step.notify}
    return found
