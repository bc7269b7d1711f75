"""Losing a machine (issue 20): the router on three test hosts (tests.hosts), each with a
redis-server and a Sentinel; the API on host 1, a worker and a scheduler on hosts 2 and
3, the master on host 3. During a burst of 2,000 P1 events the drills cut the master's
host off, kill its redis-server, or cut a worker's host off while it holds a batch.
Every event that got a 202 is folded, and every page is sent exactly once within 60 s.

Each drill prints its counts and says whether the hosts were network namespaces or
loopback ports."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from router.state import keys
from tests.deployment import Deployment
from tests.hosts import Hosts
from tests.mailservers import smtp_server
from tests.onhosts import Sender, incidents, messages, p1_events, pages, start_router
from tests.stack import TOKEN, free_port, wait_until

pytestmark = pytest.mark.drill
EVENTS, BATCH = 2000, 100
PAGE_WITHIN_S = 60


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    made = Hosts(tmp_path / "hosts")
    try:
        yield made.start(master=3)
    finally:
        made.stop()


class Burst(Sender):
    """EVENTS distinct P1 events in batches of BATCH, posted from a thread."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.thread = threading.Thread(target=self._post_all, daemon=True)

    def _post_all(self) -> None:
        for batch in range(EVENTS // BATCH):
            self.post(p1_events(f"host-{batch}", BATCH))

    def start(self) -> Burst:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(180)
        assert not self.thread.is_alive(), "the burst did not end"
        self.close()


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
        deployment = start_router(tmp_path, hosts, smtp_port)
        try:
            before(deployment)
            burst = Burst(deployment.url).start()
            wait_until(lambda: len(burst.accepted) >= after_batches * BATCH, 60, "the burst")
            faulted_at = time.monotonic()
            fault(deployment)
            burst.join()
            accepted = len(burst.accepted)
            wait_until(
                lambda: len(pages(inbox)) >= accepted, PAGE_WITHIN_S + 30, "a page per event"
            )
            paged_s = time.monotonic() - faulted_at
            wait_until(deployment.idle, 90, "every task and timer to be done")
            folded = incidents(deployment)
            resolved = _resolve_some(deployment)
            mend(deployment)
            wait_until(deployment.idle, 90, "the mended host's work to be done")
            paged = pages(inbox)
            duplicates = sum(n - 1 for n in messages(inbox).values())
            print(
                f"\ndrill {name} ({hosts.mode}): accepted {accepted}, folded {folded}, "
                f"pages {len(paged)}, duplicates {duplicates}; {burst.refused} requests refused, "
                f"a 202 again {burst.recovered_s(faulted_at):.1f} s after the fault, "
                f"the last page {paged_s:.1f} s after it"
            )
            assert accepted == EVENTS
            assert folded == EVENTS
            assert len(paged) == EVENTS and duplicates == 0
            assert paged_s <= PAGE_WITHIN_S
            # nothing the mended host held comes back: the resolved stay resolved, and
            # every incident is still there once
            assert incidents(deployment) == EVENTS
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
