"""Losing a machine (issue 20): the router on three test hosts (tests.hosts), each with a
redis-server and a Sentinel; the API on host 1, a worker and a scheduler on hosts 2 and
3, the master on host 3. During a burst of 2,000 P1 events the drills cut the master's
host off, kill its redis-server, or cut a worker's host off while it holds a batch.
Every event that got a 202 is folded, and every page is sent exactly once within 60 s.

Each drill prints its counts and says whether the hosts were network namespaces or
loopback ports."""

from __future__ import annotations

import email.parser
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.state import keys
from tests.deployment import Deployment
from tests.hosts import Hosts
from tests.mailservers import SmtpInbox, smtp_server
from tests.stack import TOKEN, free_port, wait_until

pytestmark = pytest.mark.drill
EVENTS, BATCH = 2000, 100
PAGE_WITHIN_S = 60
_HEADERS = email.parser.BytesHeaderParser()


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    made = Hosts(tmp_path / "hosts")
    try:
        yield made.start(master=3)
    finally:
        made.stop()


def _messages(inbox: SmtpInbox) -> Counter[tuple[str, str]]:
    """(kind, idempotency key) of every message received, with how often it came."""
    found: Counter[tuple[str, str]] = Counter()
    for raw in list(inbox.messages):
        headers = _HEADERS.parsebytes(raw, headersonly=True)
        key = str(headers["X-Alert-Router-Idempotency-Key"]).strip()
        found[(str(headers["X-Alert-Router-Kind"]), key)] += 1
    return found


def _pages(inbox: SmtpInbox) -> Counter[str]:
    return Counter({key: n for (kind, key), n in _messages(inbox).items() if kind == "page"})


class Burst:
    """Posts EVENTS distinct P1 events in batches of BATCH, as a sender that retries
    does: a batch refused (503) or unanswered is posted again until it gets a 202."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: set[str] = set()  # dedup keys of the events with a 202
        self.refused = 0  # answers other than 202, and requests with no answer
        self.last_refused_at: float | None = None
        self.accepted_at: list[float] = []
        self.thread = threading.Thread(target=self._post_all, daemon=True)

    def _post_all(self) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15) as client:
            for batch in range(EVENTS // BATCH):
                events = [
                    {
                        "pipeline": "growth.aggregate",
                        "type": "job_failed",
                        "severity": "P1",
                        "dedup_key": f"host-{batch}-{n}",
                        "summary": f"Growth job {batch}-{n} failed",
                    }
                    for n in range(BATCH)
                ]
                self._post(client, events)

    def _post(self, client: httpx.Client, events: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                answer = client.post(f"{self.url}/v1/events", json=events)
                if answer.status_code == 202:
                    self.accepted_at.append(time.monotonic())
                    self.accepted.update(str(e["dedup_key"]) for e in events)
                    return
                assert answer.status_code == 503, answer.text
            except httpx.HTTPError:
                pass
            self.refused += 1
            self.last_refused_at = time.monotonic()
            time.sleep(0.2)
        raise AssertionError("a batch was refused for two minutes")

    def recovered_s(self, since: float) -> float:
        """From `since` to the first 202 after the last refusal (0 if none was refused)."""
        if self.last_refused_at is None:
            return 0.0
        last = self.last_refused_at
        return min(t for t in self.accepted_at if t > last) - since

    def start(self) -> Burst:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(180)
        assert not self.thread.is_alive(), "the burst did not end"


def _start_router(tmp_path: Path, hosts: Hosts, smtp_port: int) -> Deployment:
    deployment = Deployment(
        tmp_path,
        None,
        smtp_port,
        redis_url=hosts.url(0),
        host=hosts[1].address,
        smtp_host=hosts.gateway,
        ROUTER_REDIS_MIN_REPLICAS="1",
        ROUTER_REDELIVER_AFTER_S="10",
        ROUTER_TIMER_LEASE_S="15",
    )
    hosts[1].processes.append(deployment.api(prefix=hosts[1].prefix))
    for number in (2, 3):
        host = hosts[number]
        host.processes.append(deployment.worker(prefix=host.prefix))
        host.processes.append(deployment.scheduler(prefix=host.prefix))
    return deployment


def _incidents(deployment: Deployment) -> int:
    with deployment.client() as client:
        return sum(int(client.zcard(keys.status(s))) for s in ("triggered", "resolved"))


def _resolve_some(deployment: Deployment, count: int = 10) -> set[str]:
    """Resolve `count` incidents through the API (before the mend: on the new master)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = httpx.get(
        f"{deployment.url}/v1/incidents?status=triggered&limit={count}", headers=auth, timeout=15
    ).json()["incidents"]
    chosen = {str(incident["id"]) for incident in listed}
    for incident in chosen:
        answer = httpx.post(f"{deployment.url}/v1/incidents/{incident}/resolve", headers=auth)
        assert answer.status_code == 200, answer.text
    assert len(chosen) == count
    return chosen


def _drill(
    name: str,
    tmp_path: Path,
    hosts: Hosts,
    fault: Callable[[Deployment], None],
    mend: Callable[[Deployment], None],
    before: Callable[[Deployment], None] = lambda _: None,
    after_batches: int = 6,
) -> None:
    """The burst with `fault` once `after_batches` batches are accepted; then every
    accepted event folded and paged once, within PAGE_WITHIN_S of the fault; `mend`,
    and nothing is sent again."""
    smtp_port = free_port()
    with smtp_server(smtp_port, host=hosts.gateway) as inbox:
        deployment = _start_router(tmp_path, hosts, smtp_port)
        try:
            before(deployment)
            burst = Burst(deployment.url).start()
            wait_until(lambda: len(burst.accepted) >= after_batches * BATCH, 60, "the burst")
            faulted_at = time.monotonic()
            fault(deployment)
            burst.join()
            accepted = len(burst.accepted)
            wait_until(
                lambda: len(_pages(inbox)) >= accepted, PAGE_WITHIN_S + 30, "a page per event"
            )
            paged_s = time.monotonic() - faulted_at
            wait_until(deployment.idle, 90, "every task and timer to be done")
            folded = _incidents(deployment)
            resolved = _resolve_some(deployment)
            mend(deployment)
            wait_until(deployment.idle, 90, "the mended host's work to be done")
            messages = _messages(inbox)
            pages = _pages(inbox)
            duplicates = sum(n - 1 for n in messages.values())
            print(
                f"\ndrill {name} ({hosts.mode}): accepted {accepted}, folded {folded}, "
                f"pages {len(pages)}, duplicates {duplicates}; {burst.refused} requests refused, "
                f"a 202 again {burst.recovered_s(faulted_at):.1f} s after the fault, "
                f"the last page {paged_s:.1f} s after it"
            )
            assert accepted == EVENTS
            assert folded == EVENTS
            assert len(pages) == EVENTS and duplicates == 0
            assert paged_s <= PAGE_WITHIN_S
            # nothing the mended host held comes back: the resolved stay resolved, and
            # every incident is still there once
            assert _incidents(deployment) == EVENTS
            with deployment.client() as client:
                assert resolved <= {
                    i.decode() for i in client.zrange(keys.status("resolved"), 0, -1)
                }
        finally:
            deployment.stop()


def test_the_master_host_cut_off_mid_burst(tmp_path: Path, hosts: Hosts) -> None:
    """Host 3 (the master, a worker and a scheduler) loses its network: the Sentinels
    of hosts 1 and 2 fail over; when the link comes back, the old master rejoins as a
    replica and nothing it took alone comes back."""
    old = hosts[3]

    def cut(deployment: Deployment) -> None:
        hosts.cut(old)
        hosts.new_master(old, [hosts[1], hosts[2]])

    def mend(deployment: Deployment) -> None:
        _failover_seen(deployment)
        hosts.mend(old)
        wait_until(lambda: hosts.rejoined(old), 60, "the old master to rejoin as a replica")

    _drill("master host cut off", tmp_path, hosts, cut, mend)


def _failover_seen(deployment: Deployment) -> None:
    """/readyz names the new master and /metrics counts one failover, however many
    processes saw it."""
    ready = httpx.get(f"{deployment.url}/readyz", timeout=15).json()
    with deployment.client() as client:
        master = client.connection_pool.get_master_address()
    assert ready["replication"]["master"] == f"{master[0]}:{master[1]}"
    assert ready["replication"]["failovers_seen"] == 1
    metrics = httpx.get(f"{deployment.url}/metrics", timeout=15).text
    assert "router_redis_failovers_seen_total 1.0" in metrics


def test_the_master_redis_killed_mid_burst(tmp_path: Path, hosts: Hosts) -> None:
    old = hosts[3]

    def kill(deployment: Deployment) -> None:
        assert old.redis
        old.redis.kill()
        hosts.new_master(old, [hosts[1], hosts[2]])

    def restart(deployment: Deployment) -> None:
        _failover_seen(deployment)
        assert old.redis
        old.redis.start()  # with its append-only file: what it held before the kill
        wait_until(lambda: hosts.rejoined(old), 60, "the old master to rejoin as a replica")

    _drill("master redis-server killed", tmp_path, hosts, kill, restart)


def test_a_worker_host_cut_off_holding_a_batch(tmp_path: Path, hosts: Hosts) -> None:
    """Host 3's worker is stopped, so host 2's takes the batches alone; host 2 is cut
    off while it holds one, and host 3's worker, let go, folds and pages it once."""
    worker_host, other = hosts[2], hosts[3]

    def alone(deployment: Deployment) -> None:
        os.killpg(other.processes[0].pid, signal.SIGSTOP)  # host 3's worker (and pool)

    def cut(deployment: Deployment) -> None:
        def holds() -> bool:
            with deployment.client() as client:
                return bool(client.hlen("unacked"))

        wait_until(holds, 30, "host 2's worker to hold a batch")
        hosts.cut(worker_host)
        os.killpg(other.processes[0].pid, signal.SIGCONT)

    _drill(
        "worker host cut off", tmp_path, hosts, cut, lambda _: hosts.mend(worker_host),
        before=alone, after_batches=3,
    )  # fmt: skip
