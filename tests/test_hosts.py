"""Losing a machine (issue 20): the router on three test hosts (tests.hosts), each with a
redis-server and a Sentinel; the API on host 1, a worker and a scheduler on hosts 2 and
3, the master on host 3. During a burst of P1 events each drill cuts a worker's host
off while it holds a batch (600 events), cuts the master's host off or kills the
master's redis-server (2,000 each); the three run in turn on one router. Every event that got a 202 is
folded, and every page is sent exactly once within 60 s.

Each drill prints its counts and says whether the hosts were network namespaces or
loopback ports."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from router.queue.tasks import FIRE_BATCH
from router.state import keys
from tests.deployment import Deployment
from tests.hosts import Hosts
from tests.mailservers import SmtpInbox, smtp_server
from tests.onhosts import (
    Sender,
    folded_keys,
    incidents,
    marked_repeats,
    messages,
    p1_events,
    pages,
    start_router,
)
from tests.stack import TOKEN, free_port, wait_until

pytestmark = pytest.mark.drill
EVENTS, BATCH = 2000, 100
PAGE_WITHIN_S = 60
MARKED_REPEATS_AT_MOST = 2 * FIRE_BATCH
"""Sends that may be in flight when a machine goes: the fire tasks of a worker's two
pool processes (4 to 6 under the README's drill command)."""


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[Hosts]:
    made = Hosts(tmp_path / "hosts")
    try:
        yield made.start(master=3)
    finally:
        made.stop()


class Burst(Sender):
    """`events` distinct P1 events (dedup keys `tag-batch-n`) in batches of BATCH,
    posted from a thread."""

    def __init__(self, url: str, tag: str, events: int) -> None:
        super().__init__(url)
        self.tag, self.events = tag, events
        self.thread = threading.Thread(target=self._post_all, daemon=True)

    def _post_all(self) -> None:
        for batch in range(self.events // BATCH):
            self.post(p1_events(f"{self.tag}-{batch}", BATCH))

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

    def resolve(incident: str) -> httpx.Response:
        return httpx.post(f"{deployment.url}/v1/incidents/{incident}/resolve", headers=auth)

    # at once: with a replica cut off but still counted, each waits out its WAIT (1 s)
    with ThreadPoolExecutor(count) as pool:
        for answer in pool.map(resolve, chosen):
            assert answer.status_code == 200, answer.text
    assert len(chosen) == count
    return chosen


@dataclass
class Router:
    """The router on the hosts, with its SMTP inbox; the drills run on it in turn."""

    hosts: Hosts
    deployment: Deployment
    inbox: SmtpInbox

    def drill(
        self,
        name: str,
        fault: Callable[[], None],
        mend: Callable[[], None],
        after_batches: int = 6,
        events: int = EVENTS,
    ) -> None:
        """A burst of `events` with `fault` once `after_batches` batches are accepted; then every
        accepted event folded and paged once, within PAGE_WITHIN_S of the fault; `mend`,
        and nothing is sent again."""
        deployment, inbox = self.deployment, self.inbox
        self.steady()
        incidents_before, pages_before = incidents(deployment), len(pages(inbox))
        repeats_before = marked_repeats(inbox)
        burst = Burst(deployment.url, name.replace(" ", "-"), events).start()
        wait_until(lambda: len(burst.accepted) >= after_batches * BATCH, 60, "the burst")
        faulted_at = time.monotonic()
        fault()
        burst.join()
        accepted = len(burst.accepted)
        wanted = pages_before + accepted
        try:
            wait_until(lambda: len(pages(inbox)) >= wanted, PAGE_WITHIN_S + 30, "a page per event")
        except AssertionError as error:
            missing = wanted - len(pages(inbox))
            unfolded = sorted(burst.accepted - folded_keys(deployment))
            raise AssertionError(
                f"{error}: {missing} missing, {len(unfolded)} not folded "
                f"({unfolded[:3]}...); {deployment.state()}"
            ) from None
        paged_s = time.monotonic() - faulted_at
        wait_until(deployment.idle, 90, "every task and timer to be done")
        folded = incidents(deployment) - incidents_before
        resolved = _resolve_some(deployment)
        mend()
        wait_until(deployment.idle, 90, "the mended host's work to be done")
        paged = len(pages(inbox)) - pages_before
        duplicates = sum(n - 1 for n in messages(inbox).values())
        repeats = marked_repeats(inbox) - repeats_before
        print(
            f"\ndrill {name} ({self.hosts.mode}): accepted {accepted}, folded {folded}, "
            f"pages {paged}, duplicates {duplicates} ({repeats} sent again marked as possible "
            f"repeats); {burst.refused} requests refused, "
            f"a 202 again {burst.recovered_s(faulted_at):.1f} s after the fault, "
            f"the last page {paged_s:.1f} s after it"
        )
        assert accepted == events
        assert folded == events
        assert paged == events and duplicates == 0
        # A send is marked when an attempt passed its fence and its outcome was lost:
        # those in flight on the host cut off or on the master killed.
        assert repeats <= MARKED_REPEATS_AT_MOST
        assert paged_s <= PAGE_WITHIN_S
        # nothing the mended host held comes back: the resolved stay resolved, and
        # every incident is still there once
        assert incidents(deployment) == incidents_before + events
        with deployment.client() as client:
            assert resolved <= {i.decode() for i in client.zrange(keys.status("resolved"), 0, -1)}

    def steady(self) -> None:
        """Wait until the last drill's harm is mended as far as the router can tell: every
        redis-server but the master is its replica again, in sync, and every process has
        looked at the replicas since (router.state.watch: a WAIT asks for each replica a
        process counts). A new fault within that second is a second fault during the
        mend; a run once killed the master 0.2 s after a replica rejoined, the Sentinels
        promoted that replica, and a batch only the other had confirmed was lost."""
        hosts = self.hosts
        master = hosts.master()
        assert master is not None
        replicas = [host for host in hosts.hosts if host is not master]
        wait_until(lambda: all(map(hosts.rejoined, replicas)), 60, "every replica to rejoin")
        with self.deployment.client() as client:
            since = float(client.time()[0]) + 0.001

            def looked() -> bool:
                ticks = [float(v.split()[1]) for v in client.hvals(keys.CLOCK_OFFSETS)]
                return bool(ticks) and min(ticks) > since

            wait_until(looked, 30, "every process to count the replicas again")


@pytest.fixture
def router(tmp_path: Path, hosts: Hosts) -> Iterator[Router]:
    smtp_port = free_port()
    with smtp_server(smtp_port, host=hosts.gateway) as inbox:
        deployment = start_router(tmp_path, hosts, smtp_port)
        try:
            yield Router(hosts, deployment, inbox)
        finally:
            deployment.stop()


def test_losing_a_machine_three_ways(router: Router) -> None:
    """One router takes three bursts in turn (starting it and the hosts once costs less
    than the drills themselves), each with a machine lost."""
    _a_worker_host_cut_off_holding_a_batch(router)
    _the_master_host_cut_off_mid_burst(router)
    _the_master_redis_killed_mid_burst(router)


def _a_worker_host_cut_off_holding_a_batch(router: Router) -> None:
    """Host 3's worker is stopped, so host 2's takes the batches alone; host 2 is cut
    off while it holds one, and host 3's worker, let go, folds and pages it once. (The
    master is on host 3 still: cutting host 2 fails nothing over.) 600 events: what
    this drill shows is one batch, and the two bursts after it are 2,000."""
    hosts, deployment = router.hosts, router.deployment
    worker_host, other = hosts[2], hosts[3]
    os.killpg(other.processes[0].pid, signal.SIGSTOP)  # host 3's worker (and pool)

    def cut() -> None:
        def holds() -> bool:
            with deployment.client() as client:
                return bool(client.hlen("unacked"))

        wait_until(holds, 30, "host 2's worker to hold a batch")
        hosts.cut(worker_host)
        os.killpg(other.processes[0].pid, signal.SIGCONT)

    router.drill(
        "worker host cut off", cut, lambda: hosts.mend(worker_host), after_batches=3, events=600
    )


def _the_master_host_cut_off_mid_burst(router: Router) -> None:
    """The master's host (host 3: the master, a worker and a scheduler) loses its
    network: the Sentinels of the other two fail over; when the link comes back, the
    old master rejoins as a replica and nothing it took alone comes back."""
    hosts = router.hosts
    old = hosts.master()
    assert old is hosts[3]

    def cut() -> None:
        hosts.cut(old)
        hosts.new_master(old, [hosts[1], hosts[2]])

    def mend() -> None:
        _failover_seen(router.deployment, 1)
        hosts.mend(old)
        wait_until(lambda: hosts.rejoined(old), 60, "the old master to rejoin as a replica")

    router.drill("master host cut off", cut, mend)


def _the_master_redis_killed_mid_burst(router: Router) -> None:
    """The master's redis-server (on host 1 or 2 by now) is SIGKILLed; restarted from
    its append-only file, it rejoins as a replica and nothing it held comes back."""
    hosts = router.hosts
    old = hosts.master()
    assert old is not None and old.redis is not None
    redis_server = old.redis

    def kill() -> None:
        redis_server.kill()
        hosts.new_master(old, [host for host in hosts.hosts if host is not old])

    def restart() -> None:
        _failover_seen(router.deployment, 2)
        redis_server.start()  # with its append-only file: what it held before the kill
        wait_until(lambda: hosts.rejoined(old), 60, "the old master to rejoin as a replica")

    router.drill("master redis-server killed", kill, restart)


def _failover_seen(deployment: Deployment, count: int) -> None:
    """/readyz names the new master and /metrics counts each failover once, however many
    processes saw it."""
    ready = httpx.get(f"{deployment.url}/readyz", timeout=15).json()
    with deployment.client() as client:
        master = client.connection_pool.get_master_address()
    assert ready["replication"]["master"] == f"{master[0]}:{master[1]}"
    assert ready["replication"]["failovers_seen"] == count
    metrics = httpx.get(f"{deployment.url}/metrics", timeout=15).text
    assert f"router_redis_failovers_seen_total {count}.0" in metrics
