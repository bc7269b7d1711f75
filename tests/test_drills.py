"""Fault drills: the router's processes, a Redis the drill owns, and something killed
at the worst moment. Every accepted event is folded, every page is sent exactly once."""

from __future__ import annotations

import base64
import functools
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from router.core.incidents import Incident
from router.delivery.mail.backends.sendgrid import SendGridBackend
from router.queue.tasks import DELIVER_QUEUE
from router.state import keys
from tests.deployment import Deployment, message_ids
from tests.mailservers import Tarpit, sendgrid_server, smtp_server, webhook_receiver
from tests.redis_server import RedisServer
from tests.stack import Stack, folded_ids, free_port, running_stack, wait_until
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
    print(f"\ndrill kill: {pages} pages, the last {took_s:.0f} s after the kill")
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
    accepted, holding batches and pages. Redelivery after 10 s, not the default 30 s, and
    a 15 s lease, not 60 s (a send the worker died committing is held COMMIT_LEASES
    leases: router.state.sendonce): the mechanism is the same, the suite is shorter."""
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(
            tmp_path,
            own_redis,
            smtp_port,
            ROUTER_REDELIVER_AFTER_S="10",
            ROUTER_TIMER_LEASE_S="15",
        )
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
        with deployment.client() as client:
            return set(event_ids) <= folded_ids(client)
    except redis.RedisError:
        return False


def _watch_in_hand(deployment: Deployment, task: bytes) -> threading.Event:
    """Set once a worker has taken a `task` off its queue and not yet acknowledged it.
    Watched from before the batch is posted, polled without pause: its fold lasts a
    fraction of a second, and a watch begun after the 202 could start after it."""
    in_hand = threading.Event()
    client = deployment.client()
    client.ping()  # connected before the post

    def watch() -> None:
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline and not in_hand.is_set():
                if any(task in raw for raw in client.hvals("unacked")):
                    in_hand.set()
        finally:
            client.close()

    threading.Thread(target=watch, daemon=True).start()
    return in_hand


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
                in_hand = _watch_in_hand(deployment, b"router.ingest") if batch == 0 else None
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
                if in_hand is not None:  # killed while a worker holds the batch: folding it
                    assert in_hand.wait(30), "no worker took the batch in 30 s"
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


def test_a_scheduler_300_s_behind_sends_each_step_on_time(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """A scheduler whose machine's clock runs 300 s behind (libfaketime) once sent every
    escalation step 300 s late, and nothing warned. Every process goes by Redis's clock
    now (router.state.watch): the steps (2 s apart) come on time, and the scheduler's
    log says how far its machine is off."""
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(tmp_path, own_redis, smtp_port, _two_second_rules(tmp_path))
        deployment.env["DONT_FAKE_MONOTONIC"] = "1"  # libfaketime: the wall clock only
        try:
            deployment.api()
            deployment.worker()
            behind = deployment.scheduler(prefix=("faketime", "-f", "-300s"))
            posted_at = time.monotonic()
            assert deployment.post("/v1/events", _p1_batch(0, size=5)).status_code == 202
            wait_until(lambda: len(message_ids(inbox)) >= 5, timeout_s=30, what="pages")
            planned = _planned_keys(deployment)
            wait_until(lambda: planned <= set(message_ids(inbox)), timeout_s=60, what="the steps")
            last_s = time.monotonic() - posted_at
            wait_until(deployment.idle, timeout_s=30, what="every task and timer to be done")
            counts = Counter(message_ids(inbox))
            assert set(counts) == planned and len(planned) > 5
            assert [key for key, n in counts.items() if n > 1] == []
            log = (tmp_path / f"scheduler-{deployment.processes.index(behind)}.log").read_text()
            assert "this machine's clock is 300." in log and "behind Redis's" in log
            print(
                f"\ndrill skewed scheduler: {len(planned)} messages, the last {last_s:.1f} s "
                "after the event, with the scheduler's clock 300 s behind"
            )
        finally:
            deployment.stop()


def _timers_queued(client: redis.Redis) -> int:
    """Timer members in the fire tasks waiting in router.deliver (a task carries a list)."""
    count = 0
    for raw in client.lrange(DELIVER_QUEUE, 0, -1):
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
        # every planned step counted, the digest aside (tests/test_digest.py)
        no_digest = "0"
        with running_stack(
            rules_dir, tmp_path / "outbox", start, backend, ROUTER_DIGEST_AFTER_PAGES=no_digest
        ) as stack:
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


def _heartbeats(deployment: Deployment, count: int) -> None:
    with deployment.client() as client:
        wait_until(lambda: client.zcard(keys.HEARTBEATS) >= count, timeout_s=60, what="workers")


PAUSE_LEASE_S = 10


def test_a_worker_paused_past_its_lease_sends_no_page_twice(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """2,000 P1 pages through two delivering workers. One is frozen (SIGSTOP, pool and
    all) after 300 pages, mid-send, for 1.5 leases; the other takes over the sends whose
    leases ran out; then the frozen one wakes. A send it had not committed yet is
    refused at its fence (the lease is gone); one it had committed (after the fence,
    waiting for "250 OK") kept its marker for COMMIT_LEASES leases, so nobody sent it
    again and the woken worker writes its marker. No page twice. A 10 s lease instead of
    60 s: the same mechanism, a shorter suite."""
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(
            tmp_path,
            own_redis,
            smtp_port,
            ROUTER_TIMER_LEASE_S=str(PAUSE_LEASE_S),
            ROUTER_SMTP_TIMEOUT_S="2",
        )
        try:
            deployment.api()
            deployment.scheduler()
            deployment.worker(lane="fold")
            paused = deployment.worker(lane="deliver")
            deployment.worker(lane="deliver")
            _heartbeats(deployment, 3)
            _post_batches(deployment, 2)
            wait_until(lambda: len(message_ids(inbox)) >= 300, timeout_s=60, what="300 pages")
            os.killpg(paused.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            at_pause = len(message_ids(inbox))

            def taken_over() -> bool:
                """1.5 leases, and every page sent but the two the frozen pool may have
                committed; or, with the other worker slow, 1.7 leases (its commits are
                held for two)."""
                frozen_s = time.monotonic() - stopped_at
                sent = len(set(message_ids(inbox)))
                return frozen_s >= 1.7 * PAUSE_LEASE_S or (
                    frozen_s >= 1.5 * PAUSE_LEASE_S and sent >= 2000 - 2
                )

            wait_until(taken_over, timeout_s=2 * PAUSE_LEASE_S, what="the other to take over")
            frozen_s = time.monotonic() - stopped_at
            at_wake = len(set(message_ids(inbox)))
            os.killpg(paused.pid, signal.SIGCONT)
            wait_until(deployment.idle, timeout_s=90, what="the woken worker to finish")
            counts = Counter(message_ids(inbox))
            twice = [key for key, n in counts.items() if n > 1]
            with deployment.client() as client:
                sent = sum(
                    int(v)
                    for f, v in client.hgetall(keys.METRICS).items()
                    if f.startswith(b"router_messages_sent|")
                )
            print(
                f"\ndrill pause: {len(counts)} pages, {len(twice)} sent twice; worker frozen "
                f"{frozen_s:.0f} s (lease {PAUSE_LEASE_S} s) from {at_pause} pages to "
                f"{at_wake}; "
                f"router_messages_sent {sent}"
            )
            assert len(counts) == 2000
            assert twice == []
            assert sent == 2000
        finally:
            deployment.stop()


SMTP_HANG_S = float(os.environ.get("ROUTER_DRILL_SMTP_HANG_S", "20"))


def _pushed_rules(tmp_path: Path, receiver_url: str) -> Path:
    """Every engineer also pushed through a JSON webhook at the local receiver."""
    host = receiver_url.removeprefix("http://")

    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            person["contact_methods"] = [f"json://{host}/{person['name'].split()[0].lower()}"]

    return copy_rules(tmp_path / "rules", team=edit)


def _p1(tag: str) -> dict[str, Any]:
    return {"pipeline": "growth.aggregate", "type": "job_failed", "severity": "P1",
            "dedup_key": tag, "summary": f"Growth job {tag} failed"}  # fmt: skip


def test_a_hanging_mail_server_holds_up_no_fold_and_no_push(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    """The mail server accepts connections and never answers, for ROUTER_DRILL_SMTP_HANG_S
    (20 s in the suite, with a 2 s SMTP timeout, ROUTER_DRILL_SMTP_TIMEOUT_S; the issue's
    120 s and 10 s give the same counts). 60 P1 incidents open as it starts to hang;
    halfway, 30 more P1 events are posted one by one. With folding and
    delivering in separate lanes (as `router up` runs them) and the breaker holding
    emails while the server is down, each of the 30 is folded within a second and every
    incident's push goes during the hang; each email arrives once when it is back."""
    smtp_port = free_port()
    tarpit = Tarpit(smtp_port)
    with webhook_receiver() as (receiver, receiver_url):
        deployment = Deployment(
            tmp_path,
            own_redis,
            smtp_port,
            _pushed_rules(tmp_path, receiver_url),
            ROUTER_SMTP_TIMEOUT_S=os.environ.get("ROUTER_DRILL_SMTP_TIMEOUT_S", "2"),
        )
        try:
            deployment.api()
            deployment.scheduler()
            deployment.worker(lane="fold")
            deployment.worker(lane="deliver")
            _heartbeats(deployment, 2)
            hang_started = time.monotonic()
            answer = deployment.post("/v1/events", [_p1(f"early-{n}") for n in range(60)])
            assert answer.status_code == 202, answer.text
            wait_until(lambda: tarpit.connections, timeout_s=30, what="a send to the tarpit")
            wait_until(lambda: time.monotonic() - hang_started >= SMTP_HANG_S / 2,
                       timeout_s=SMTP_HANG_S, what="halfway through the hang")  # fmt: skip
            fold_s = []
            with deployment.client() as client:
                for n in range(30):
                    posted = deployment.post("/v1/events", _p1(f"during-{n}"))
                    assert posted.status_code == 202, posted.text
                    event_id = posted.json()["events"][0]["event_id"]
                    posted_at = time.monotonic()
                    folded = functools.partial(lambda e: e in folded_ids(client), event_id)
                    wait_until(folded, timeout_s=30,
                               what=f"the fold of during-{n}")  # fmt: skip
                    fold_s.append(time.monotonic() - posted_at)
            assert _opened(deployment) == 90
            first_steps = {key for key in _planned_keys(deployment) if ":0:0:" in key}
            wait_until(lambda: len(receiver.calls) >= len(first_steps), timeout_s=SMTP_HANG_S,
                       what="every incident's push")  # fmt: skip
            pushed_in_hang = len(receiver.calls)
            left_s = SMTP_HANG_S - (time.monotonic() - hang_started)
            assert left_s > 0, "the pushes went only after the hang"
            wait_until(lambda: time.monotonic() - hang_started >= SMTP_HANG_S,
                       timeout_s=SMTP_HANG_S, what="the end of the hang")  # fmt: skip
            tarpit.end()
            with smtp_server(smtp_port) as inbox:
                back_at = time.monotonic()
                wait_until(lambda: len(set(message_ids(inbox))) >= 90, timeout_s=120,
                           what="every email after the hang")  # fmt: skip
                emails_after_s = time.monotonic() - back_at
                wait_until(deployment.idle, timeout_s=60, what="every timer to be done")
                counts = Counter(message_ids(inbox))
            print(
                f"\ndrill smtp hang: {SMTP_HANG_S:.0f} s hang, {tarpit.connections} connection(s) "
                f"to it; 30 P1 posted mid-hang folded in max {max(fold_s) * 1000:.0f} ms "
                f"(median {sorted(fold_s)[15] * 1000:.0f} ms); {pushed_in_hang} pushes during "
                f"the hang ({left_s:.0f} s before its end); {len(counts)} emails, "
                f"{sum(n > 1 for n in counts.values())} twice, the last "
                f"{emails_after_s:.1f} s after the server came back"
            )
            assert max(fold_s) <= 1.0
            assert len(receiver.calls) == len(first_steps)  # one push each, none twice
            assert set(counts) == first_steps
            assert [key for key, n in counts.items() if n > 1] == []
        finally:
            tarpit.end()
            deployment.stop()
