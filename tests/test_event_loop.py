"""Nothing blocks the API's event loop: slow reads (the console filtered by pipeline, big
pages of GET /v1/incidents) run off it, so events are accepted as fast while they run.

`router api` runs as production runs it, in its own process (the readers' and the test's
own threads would otherwise share its interpreter), on the session's Redis, filled with
open incidents. A drill: it measures latency, so it runs alone (`-m drill -n 0`)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from router.config.load import load_rules
from router.state.sessions import COOKIE, Logins
from router.state.store import IncidentStore
from tests.bulk import write_incidents
from tests.deployment import Deployment
from tests.redis_server import session_redis
from tests.stack import TOKEN, free_port, wait_until
from tests.support import RULES_DIR, pacific

OPEN_INCIDENTS = 30_000
READERS = 2  # of each kind
SAMPLES = 40
PIPELINES = ["growth.daily", "engagement.aggregate", "profit.unit", "profit.aggregate"]
EVENT = {
    "pipeline": "growth.aggregate",
    "type": "slow_query",
    "severity": "P3",
    "summary": "ingest while the console reads",
    "dedup_key": "event-loop",
}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    server = session_redis()
    with server.client() as client:
        client.flushdb()
    running = Deployment(tmp_path, server, smtp_port=free_port())  # no worker: nothing mailed
    try:
        yield running
    finally:
        running.stop()
        with server.client() as client:
            client.flushdb()


def _p95(latencies: list[float]) -> float:
    ranked = sorted(latencies)
    return ranked[max(0, round(0.95 * len(ranked)) - 1)]


def _ingest_latencies(url: str, samples: int, budget_s: float) -> list[float]:
    """POST /v1/events one event at a time: each answer's latency, `samples` of them or
    as many as `budget_s` allows."""
    taken: list[float] = []
    deadline = time.monotonic() + budget_s
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while len(taken) < samples and time.monotonic() < deadline:
            begun = time.perf_counter()
            answer = client.post("/v1/events", json=EVENT)
            taken.append(time.perf_counter() - begun)
            assert answer.status_code == 202, answer.text
    return taken


def _session(deployment: Deployment, person: str) -> str:
    """A console session for `person`, as the emailed sign-in link makes it."""
    secret = deployment.env["ROUTER_SECRET_KEY"].encode()

    async def sign_in() -> str:
        async with redis.asyncio.Redis.from_url(deployment.redis_url) as client:
            logins = Logins(secret)
            session = await logins.finish(client, await logins.start(client, person))
            return session.id

    return asyncio.run(sign_in())


def _reader(
    client: httpx.Client, paths: list[str], stop: threading.Event, done: list[float]
) -> Callable[[], None]:
    def read() -> None:
        with client:
            while not stop.is_set():
                for path in paths:
                    begun = time.perf_counter()
                    answer = client.get(path)
                    assert answer.status_code == 200, (path, answer.status_code)
                    done.append(time.perf_counter() - begun)

    return read


@pytest.mark.drill
def test_ingest_latency_holds_while_slow_reads_run(deployment: Deployment) -> None:
    rules = load_rules(RULES_DIR)
    with deployment.client() as client:
        begun = time.monotonic()
        write_incidents(
            IncidentStore(client, rules),
            OPEN_INCIDENTS,
            pacific("2026-10-01 00:00"),
            PIPELINES,
            ("triggered", "acknowledged"),
        )
        written_s = time.monotonic() - begun
    deployment.api()
    cookies = {COOKIE: _session(deployment, "Biswa Kalyan Rath")}
    _ingest_latencies(deployment.url, 5, 10)  # connections and code paths warmed
    idle = _ingest_latencies(deployment.url, SAMPLES, 30)

    stop = threading.Event()
    reads: list[float] = []
    readers = []
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for n in range(READERS):
        pipeline = PIPELINES[n % len(PIPELINES)]
        console = httpx.Client(base_url=deployment.url, cookies=cookies, timeout=60)
        paths = [f"/?pipeline={pipeline}", f"/?pipeline={pipeline}&status=acknowledged&page=3"]
        readers.append(_reader(console, paths, stop, reads))
        api = httpx.Client(base_url=deployment.url, headers=auth, timeout=60)
        readers.append(_reader(api, ["/v1/incidents?status=open&limit=500"], stop, reads))
    threads = [threading.Thread(target=read, daemon=True) for read in readers]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(reads) >= len(threads), timeout_s=120, what="the slow reads")
        before = len(reads)
        loaded = _ingest_latencies(deployment.url, SAMPLES, 60)
        during = len(reads) - before
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    idle_p95, loaded_p95 = _p95(idle), _p95(loaded)
    bound = max(0.25, 5 * idle_p95)
    print(
        f"\n{OPEN_INCIDENTS} open incidents (written in {written_s:.1f}s); {len(threads)} "
        f"readers ({READERS} on the console filtered by pipeline, {READERS} on GET "
        f"/v1/incidents?limit=500) did {during} reads while {len(loaded)} events were posted "
        f"(slowest read {max(reads):.3f}s). POST /v1/events p95: idle {idle_p95:.4f}s, "
        f"during the reads {loaded_p95:.4f}s (max {max(loaded):.4f}s; bound {bound:.3f}s)"
    )
    assert len(loaded) == SAMPLES, f"only {len(loaded)} events posted in 60 s"
    assert during >= len(threads), "the reads did not run while events were posted"
    assert loaded_p95 < bound
