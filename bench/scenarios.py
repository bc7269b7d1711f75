"""The scenarios of docs/benchmarks.md. Each starts what it needs on a redis-server of
its own and returns plain numbers; none asserts anything about them."""

from __future__ import annotations

import email
import email.policy
import re
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.load import post_load
from bench.services import TimedInbox, rss_mb, timed_smtp
from router import keys, outbox
from router.incidents import Incident
from router.mail.message import OutgoingMessage
from router.runtime import build_runtime
from tests.deployment import Deployment
from tests.redis_server import RedisServer
from tests.stack import TOKEN, settings_for, wait_until
from tests.support import RULES_DIR

AUTH = {"Authorization": f"Bearer {TOKEN}"}
API_PROCESSES = 2
P4 = {"pipeline": "growth.aggregate", "type": "slow_query", "severity": "P4", "summary": "bench"}


@dataclass(frozen=True)
class Sizes:
    ingest_s: float
    fold_events: int
    storm_events: int
    timers: int
    timers_over_s: float
    memory_events: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(10, 100_000, 100_000, 100_000, 60, 1_000_000)

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(1, 2_000, 2_000, 50, 2, 2_000)


@contextmanager
def router(
    directory: Path, workers: int = 0, api_processes: int = 1, lane: str = "all", **settings: str
) -> Iterator[tuple[Deployment, TimedInbox]]:
    """api + scheduler (+ a worker of `lane` with `workers` pool processes) on a fresh
    Redis."""
    directory.mkdir(parents=True, exist_ok=True)
    server = RedisServer(directory / "redis").start()
    with timed_smtp() as (inbox, smtp_port):
        deployment = Deployment(directory, server, smtp_port, RULES_DIR, **settings)
        try:
            deployment.api(api_processes)
            deployment.scheduler()
            if workers:
                deployment.worker(concurrency=workers, lane=lane)
                _workers_ready(deployment, 1)
            yield deployment, inbox
        finally:
            deployment.stop()
            server.stop()


def _workers_ready(deployment: Deployment, count: int) -> None:
    """Measure from when the workers consume, not from their start-up (their heartbeats)."""
    with deployment.client() as client:
        wait_until(lambda: client.zcard(keys.HEARTBEATS) >= count, timeout_s=60, what="workers")


def _alerts(count: int) -> list[dict[str, Any]]:
    return [
        {"labels": {"alertname": f"Bench{n}", "pipeline": "growth.aggregate", "severity": "info"}}
        for n in range(count)
    ]


def ingest(directory: Path, sizes: Sizes, alertmanager_url: str | None) -> list[dict[str, Any]]:
    """Requests accepted per second: one event per request, and 100. The API runs one
    process per core (`router api --processes 2`), as Alertmanager's Go runtime does."""
    rows = []
    with router(directory / "ingest", api_processes=API_PROCESSES) as (deployment, _):
        for per_request in (1, 100):
            body: Any = P4 if per_request == 1 else [P4] * per_request
            ours = post_load(f"{deployment.url}/v1/events", body, AUTH, sizes.ingest_s)
            theirs = (
                post_load(
                    f"{alertmanager_url}/api/v2/alerts", _alerts(per_request), {}, sizes.ingest_s
                )
                if alertmanager_url
                else None
            )
            rows.append(
                {
                    "events_per_request": per_request,
                    "tool": ours.tool,
                    "router_events_per_s": ours.requests_per_s * per_request,
                    "router_non_2xx": ours.non_2xx,
                    "alertmanager_events_per_s": (
                        theirs.requests_per_s * per_request if theirs else None
                    ),
                    "ratio": (ours.requests_per_s / theirs.requests_per_s) if theirs else None,
                }
            )
    return rows


def _folded(deployment: Deployment, pipeline: str) -> int:
    with deployment.client() as client:
        ids = client.hvals(keys.open_index(pipeline))
        raws = client.mget([keys.incident(i.decode()) for i in ids]) if ids else []
        return sum(Incident.model_validate_json(raw).events for raw in raws if raw)


def _post_storm(deployment: Deployment, total: int, pipeline: str = "growth.aggregate") -> None:
    sent = 0
    while sent < total:
        size = min(1000, total - sent)
        batch = [
            {**P4, "pipeline": pipeline, "dedup_key": f"k{(sent + n) % 100}"} for n in range(size)
        ]
        answer = deployment.post("/v1/events", batch)
        assert answer.status_code == 202, answer.text
        sent += size


def fold(directory: Path, sizes: Sizes, workers: int) -> dict[str, Any]:
    """Events on 100 dedup keys, posted in batches of 1,000, until every one is folded."""
    with router(directory / f"fold-{workers}", workers=workers) as (deployment, _):
        started = time.monotonic()
        _post_storm(deployment, sizes.fold_events)
        posted_s = time.monotonic() - started
        wait_until(
            lambda: _folded(deployment, "growth.aggregate") >= sizes.fold_events,
            timeout_s=900,
            what="every event folded",
        )
        took_s = time.monotonic() - started
        incidents = len(deployment.client().hkeys(keys.open_index("growth.aggregate")))
    return {
        "workers": workers,
        "events": sizes.fold_events,
        "incidents": incidents,
        "seconds": took_s,
        "posting_s": posted_s,
        "events_per_s": sizes.fold_events / took_s,
    }


_TIMER_SUBJECT = re.compile(rb"^Subject: t\d+\r?$", re.MULTILINE)


def _subject_of(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=email.policy.default)["Subject"])


def p1_during_storm(directory: Path, sizes: Sizes) -> dict[str, Any]:
    """While a storm is posted and folded, a P1 every 100 ms: POST to page arrival. As
    docker-compose.yml runs it: a folding worker of two processes, one for router.urgent
    and a delivering one of two processes."""
    with router(directory / "p1", workers=2, lane="fold") as (deployment, inbox):
        deployment.worker(concurrency=1, lane="urgent")
        deployment.worker(concurrency=2, lane="deliver")
        _workers_ready(deployment, 3)
        posted: dict[str, float] = {}
        storm = threading.Thread(target=_post_storm, args=(deployment, sizes.storm_events))
        storm.start()
        n = 0
        while storm.is_alive() or _folded(deployment, "growth.aggregate") < sizes.storm_events:
            tag = f"p1-{n}"
            posted[tag] = time.monotonic()
            event = {"pipeline": "profit.aggregate", "type": "aggregation_error", "severity": "P1",
                     "dedup_key": tag, "summary": tag}  # fmt: skip
            assert deployment.post("/v1/events", event).status_code == 202
            n += 1
            time.sleep(0.1)
        storm.join()
        wait_until(lambda: len(inbox.arrivals) >= len(posted), timeout_s=120, what="every P1")
        arrived: dict[str, float] = {}
        for at, raw in inbox.arrivals:
            tag = _subject_of(raw).rsplit(": ", 1)[-1].strip()
            arrived.setdefault(tag, at)
    latencies_ms = sorted((arrived[tag] - posted[tag]) * 1000 for tag in posted if tag in arrived)
    return {"p1_sent": len(posted), **_percentiles(latencies_ms), "latencies_ms": latencies_ms}


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan")}
    cut = (
        statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    )
    return {"p50_ms": statistics.median(values), "p99_ms": cut[98], "max_ms": max(values)}


def timer_lateness(directory: Path, sizes: Sizes) -> dict[str, Any]:
    """Stored notices with timers falling due over a window: arrival minus due time."""
    with router(directory / "timers", workers=2) as (deployment, inbox):
        settings = settings_for(RULES_DIR, directory / "unused", REDIS_URL=deployment.server.url())
        client = build_runtime(settings).redis
        lead_s = min(
            5.0, 1 + sizes.timers / 20_000
        )  # time to write them all before the first is due
        wall_start = datetime.now(UTC) + timedelta(seconds=lead_s)
        mono_start = time.monotonic() + lead_s
        due_of: dict[str, float] = {}
        with client.pipeline(transaction=False) as pipe:
            for n in range(sizes.timers):
                offset_s = sizes.timers_over_s * n / max(1, sizes.timers)
                tag = f"t{n}"
                message = OutgoingMessage(idempotency_key=tag, kind="report_ready",
                                          to=["analyst@example.com"], subject=tag, text=tag,
                                          html=tag)  # fmt: skip
                outbox.put(pipe, message, wall_start + timedelta(seconds=offset_s))
                due_of[tag] = mono_start + offset_s
                if n % 5000 == 4999:
                    pipe.execute()
            pipe.execute()

        # Only this scenario's notices count; scanned once each as they arrive (the SMTP
        # server shares this process: a full rescan per poll slowed it, and the router).
        ours: list[tuple[float, bytes]] = []
        skipped = [0]

        def all_arrived() -> bool:
            arrivals = inbox.arrivals[len(ours) + skipped[0] :]
            for at, raw in arrivals:
                if _TIMER_SUBJECT.search(raw):
                    ours.append((at, raw))
                else:
                    skipped[0] += 1
            return len(ours) >= sizes.timers

        wait_until(all_arrived, timeout_s=sizes.timers_over_s + 900, what="every notice")
    late_ms = sorted(max(0.0, (at - due_of[_subject_of(raw)]) * 1000) for at, raw in ours)
    return {"timers": sizes.timers, "over_s": sizes.timers_over_s, **_percentiles(late_ms)}


def _wait_folded(deployment: Deployment, events: int) -> None:
    wait_until(lambda: _folded(deployment, "growth.aggregate") >= events, timeout_s=600)


def memory(directory: Path, sizes: Sizes, budget_s: float = 300) -> dict[str, Any]:
    """RSS of the api and of a worker (with its pool) before and after many events."""
    with router(directory / "memory", workers=2) as (deployment, _):
        api, worker = deployment.processes[0], deployment.processes[2]
        _post_storm(deployment, 2_000)  # warm up: imports, pools, caches
        wait_until(lambda: _folded(deployment, "growth.aggregate") >= 2_000, timeout_s=120)
        before = (rss_mb(api.pid), rss_mb(worker.pid, with_children=True))
        started, sent, chunk = time.monotonic(), 0, min(10_000, sizes.memory_events)
        half: tuple[float, float] | None = None  # growth after it is growth, not warm-up
        while sent < sizes.memory_events and time.monotonic() - started < budget_s:
            _post_storm(deployment, chunk)
            sent += chunk
            _wait_folded(deployment, 2_000 + sent)
            if half is None and sent >= sizes.memory_events // 2:
                half = (rss_mb(api.pid), rss_mb(worker.pid, with_children=True))
        after = (rss_mb(api.pid), rss_mb(worker.pid, with_children=True))
        half = half or after
    return {
        "events": sent,
        "api_mb_before": before[0],
        "api_mb_half": half[0],
        "api_mb_after": after[0],
        "worker_mb_before": before[1],
        "worker_mb_half": half[1],
        "worker_mb_after": after[1],
    }
