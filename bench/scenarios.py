"""The scenarios of docs/benchmarks.md. Each starts what it needs on a redis-server of its
own, talks to the router only through its commands, settings and HTTP API, and returns
plain numbers; none asserts anything about them (bench/report.py holds the goals)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import bodies
from bench.bodies import PIPELINES, Task, airflow_event, encode, summary_task
from bench.client import RouterClient
from bench.load import post_load
from bench.receiver import Arrival
from bench.services import (
    AUTH,
    Receiver,
    RouterProcesses,
    bench_rules,
    machine_cpu_s,
    redis_server,
    rss_mb,
    smtp_receiver,
    wait_until,
)

API_PROCESSES = 2
STORM_KEYS = 100
"""Every storm folds into this many incidents, whatever its size or spread."""
STORM_PER_REQUEST = 500
"""Events a storm request carries at most: 1,000 realistic events (about 640 KB) are over
the API's 512 KB body cap, 500 are not. A small storm gets smaller requests, at least ten,
so that a storm over five pipelines reaches each of them."""
P1_PIPELINE, P1_TYPE = "profit.aggregate", "aggregation_error"
TIMER_PIPELINE = "engagement.aggregate"  # both owners available on every day of the rules
PROCESSES = {
    "Ingest": "`router api --processes 2` alone: no worker, so the intake is measured, "
    "not the fold.",
    "Fold": "`router api`; the storm is queued, then `router worker "
    "--lane fold --concurrency N` starts, timed from the first event folded to the last. "
    f"{STORM_KEYS} incidents, at most {STORM_PER_REQUEST} events a request, each request one "
    "pipeline's (over five, the pipelines in turn).",
    "P1s, the burst and the timers": "the processes `router up` starts (the api in two "
    "processes, `router worker --lane fold` and `--lane deliver` of two pool processes each, "
    "`--lane urgent` of one, `router scheduler`), emailing through the SMTP backend to "
    "the harness's SMTP receiver (an asyncio sink, bench/receiver.py) in a process of its "
    "own, which offers PIPELINING as Postfix does; a message counts when it arrives "
    "there. The timers are P1 incidents of a rule whose policy escalates to the "
    "secondary owner after the wait.",
    "Memory": "`router api`, `router scheduler`, `router worker --lane fold --concurrency 2`; "
    "the worker's figure includes its pool processes.",
}


@dataclass(frozen=True)
class Sizes:
    ingest_s: float
    """How long each load runs."""
    fold_events: int
    storm_events: int
    """The storm the P1s are posted during."""
    burst_incidents: int
    timers: int
    timers_over_s: float
    """The window the timers fall due in."""
    timer_wait_s: int
    """The wait of the timers' first escalation step (page, then escalate after it)."""
    memory_events: int
    fold_workers: tuple[int, ...] = (1, 2)
    """The worker processes each fold storm is measured with."""

    @classmethod
    def full(cls) -> Sizes:
        """The issue's sizes. The timers' wait leaves their first pages, 100,000 in the
        window, time to go out before the first escalation is due (at the goal's 1,700
        pages/s they take a minute)."""
        return cls(10, 100_000, 100_000, 3_000, 100_000, 60, 240, 1_000_000)

    @classmethod
    def quick(cls) -> Sizes:
        """Every scenario in a few minutes: it works, not what it measures."""
        return cls(3, 2_000, 2_000, 1_000, 1_000, 10, 20, 20_000)

    @classmethod
    def smoke(cls) -> Sizes:
        """Tiny: the harness works (tests/test_bench.py)."""
        return cls(1, 2_000, 2_000, 100, 50, 2, 5, 2_000, fold_workers=(2,))  # the suite's time


def _now() -> datetime:
    return datetime.now(UTC)


# -- the stack --------------------------------------------------------------------------


@dataclass
class Stack:
    processes: RouterProcesses
    client: RouterClient
    inbox: Receiver


Layout = Callable[[RouterProcesses], object]


def up(processes: RouterProcesses) -> None:
    processes.up()


@contextmanager
def stack(
    directory: Path, layout: Layout, rules_dir: Path | None = None, aof_rewrite: bool = True
) -> Iterator[Stack]:
    """The router's processes as `layout` starts them, on a fresh redis-server, sending
    email over SMTP to a receiver of their own."""
    directory.mkdir(parents=True, exist_ok=True)
    rules = rules_dir or bench_rules(directory / "rules")
    with (
        redis_server(directory / "redis", aof_rewrite) as redis_url,
        smtp_receiver(directory / "receiver") as inbox,
    ):
        processes = RouterProcesses(directory, redis_url, inbox.port, rules)
        try:
            layout(processes)
            client = RouterClient(processes.url)
            try:
                yield Stack(processes, client, inbox)
            finally:
                client.close()
        finally:
            processes.stop()


def _warm_up(on: Stack, page: bool) -> None:
    """Measure from when the workers consume, not from their start-up: a few small folds
    (one per pool process, if Celery hands them out so), and a page through the deliver
    lane when the scenario counts pages."""
    before = on.client.folded()
    for _ in range(4):
        on.client.post(encode(bodies.storm("growth.daily", 1, 10, _now(), "warm_up")))
    wait_until(lambda: on.client.folded() >= before + 40, 120, "the warm-up folds")
    if page:
        event = airflow_event(Task(P1_PIPELINE, "warm_up"), P1_TYPE, "P1", _now())
        on.client.post(encode(event))
        tally = Tally(on.inbox, bodies.dag_of(P1_PIPELINE))
        wait_until(lambda: tally.has_all("page", ["warm_up"]), 120, "the warm-up page")


def _storm_per_request(events: int) -> int:
    return max(1, min(STORM_PER_REQUEST, events // 10))


def _storm_requests(events: int, pipelines: Sequence[str]) -> list[bytes]:
    """The storm as encoded requests, each one pipeline's (a pipeline's sender posts its
    own events), the pipelines in turn; STORM_KEYS tasks in all, spread evenly."""
    keys = max(1, STORM_KEYS // len(pipelines))
    per_request = _storm_per_request(events)
    now = _now()
    cache: dict[tuple[str, int], bytes] = {}
    requests: list[bytes] = []
    sent = 0
    while sent < events:
        size = min(per_request, events - sent)
        pipeline = pipelines[len(requests) % len(pipelines)]
        if (pipeline, size) not in cache:
            cache[pipeline, size] = encode(bodies.storm(pipeline, keys, size, now))
        requests.append(cache[pipeline, size])
        sent += size
    return requests


def _storm_incidents(client: RouterClient, pipelines: Sequence[str]) -> int:
    return sum(
        1
        for pipeline in pipelines
        for incident in client.incidents(pipeline)
        if "/partition_" in incident["dedup_key"]
    )


# -- statistics -------------------------------------------------------------------------


def summary_ms(values_ms: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max of some durations in milliseconds."""
    ordered = sorted(values_ms)
    if not ordered:
        return {"count": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else []

    def at(percent: int) -> float:
        return cut[percent - 1] if cut else ordered[0]

    return {
        "count": len(ordered),
        "p50_ms": statistics.median(ordered),
        "p95_ms": at(95),
        "p99_ms": at(99),
        "max_ms": ordered[-1],
    }


def quantiles_ms(values_ms: Sequence[float]) -> list[float]:
    """Minimum, p1 ... p99 and maximum (101 values): enough to plot any number of
    samples, small enough for the JSON."""
    ordered = sorted(values_ms)
    if len(ordered) < 2:
        return [round(v, 2) for v in ordered]
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return [round(v, 2) for v in (ordered[0], *cut, ordered[-1])]


def _receiver_mark(inbox: Receiver) -> tuple[float, int]:
    return inbox.cpu_s(), len(inbox.arrivals())


def _receiver_cost(inbox: Receiver, mark: tuple[float, int]) -> dict[str, Any]:
    """What the SMTP receiver cost since `mark`: it shares the two cores with the
    router, so its CPU is taken from what the router could have had."""
    (cpu_before_s, before), (cpu_after_s, after) = mark, _receiver_mark(inbox)
    used_s, messages = cpu_after_s - cpu_before_s, after - before
    return {
        "receiver_cpu_s": used_s,
        "receiver_messages": messages,
        "receiver_ms_per_message": used_s * 1000 / messages if messages else None,
    }


class Tally:
    """The messages about one DAG's tasks, by kind: each task's first, and how many came
    again. Each arrival is read once, however often a scenario polls (a rescan of every
    arrival per poll took a core from the router it measured)."""

    def __init__(self, inbox: Receiver, dag: str) -> None:
        self.inbox, self.dag, self.read = inbox, dag, 0
        self.first: dict[str, dict[str, Arrival]] = {}
        self.again: dict[str, list[str]] = {}

    def update(self) -> Tally:
        arrivals = self.inbox.arrivals()
        for arrival in arrivals[self.read :]:
            task = summary_task(arrival.subject, self.dag)
            if task is None:
                continue
            firsts = self.first.setdefault(arrival.kind, {})
            if task in firsts:
                self.again.setdefault(arrival.kind, []).append(task)
            else:
                firsts[task] = arrival
        self.read = len(arrivals)
        return self

    def of(self, kind: str) -> dict[str, Arrival]:
        return self.first.get(kind, {})

    def has_all(self, kind: str, tasks: Sequence[str]) -> bool:
        found = self.update().of(kind)
        return len(found) >= len(tasks) and all(task in found for task in tasks)

    def duplicates(self, kind: str, tasks: Sequence[str]) -> int:
        wanted = set(tasks)
        return sum(1 for task in self.update().again.get(kind, []) if task in wanted)


# -- ingest -----------------------------------------------------------------------------


def ingest(directory: Path, sizes: Sizes, alertmanager_url: str | None) -> list[dict[str, Any]]:
    """Requests accepted per second, one event per request and 100, with bare and with
    realistic bodies. The API runs one process per core (`router api --processes 2`),
    as Alertmanager's Go runtime uses both; no worker runs, so only the intake is
    measured. Each body shape gets a fresh Redis: with no worker the queue only grows, and
    its append-only file is not rewritten (each rewrite copies the whole queue, which no
    deployment with a worker holds)."""
    rows = []
    now = _now()
    for shape in ("bare", "realistic"):
        layout: Layout = lambda processes: processes.api(API_PROCESSES)  # noqa: E731
        with stack(directory / f"ingest-{shape}", layout, aof_rewrite=False) as on:
            for per_request in (1, 100):
                ours_body = encode(bodies.router_body(shape, per_request, now))
                ours = post_load(f"{on.processes.url}/v1/events", ours_body, AUTH, sizes.ingest_s)
                theirs_body = encode(bodies.alertmanager_body(shape, per_request, now))
                theirs = (
                    post_load(f"{alertmanager_url}/api/v2/alerts", theirs_body, {}, sizes.ingest_s)
                    if alertmanager_url
                    else None
                )
                rows.append(
                    {
                        "bodies": shape,
                        "events_per_request": per_request,
                        "tool": ours.tool,
                        "router_body_bytes": len(ours_body),
                        "router_events_per_s": ours.requests_per_s * per_request,
                        "router_non_2xx": ours.non_2xx,
                        "router_errors": ours.errors,
                        "alertmanager_body_bytes": len(theirs_body),
                        "alertmanager_alerts_per_s": (
                            theirs.requests_per_s * per_request if theirs else None
                        ),
                        "alertmanager_non_2xx": theirs.non_2xx if theirs else None,
                        "alertmanager_errors": theirs.errors if theirs else None,
                        "ratio": (ours.requests_per_s / theirs.requests_per_s) if theirs else None,
                    }
                )
    return rows


# -- fold -------------------------------------------------------------------------------


def fold(directory: Path, sizes: Sizes, workers: int, pipelines: Sequence[str]) -> dict[str, Any]:
    """Folding alone: the storm is queued first (the api runs, no worker),
    then `router worker --lane fold --concurrency N` starts, and the rate is timed from
    the first event folded to the last, so the workers have the cores to themselves and
    their start-up is not counted. STORM_KEYS incidents, in requests of
    STORM_PER_REQUEST."""
    name = f"fold-{len(pipelines)}p-{workers}w"
    # No scheduler: a storm of P4s sets no timer.
    with stack(directory / name, lambda processes: processes.api(1)) as on:
        requests = _storm_requests(sizes.fold_events, pipelines)
        started = time.monotonic()
        for body in requests:
            on.client.post(body)
        queueing_s = time.monotonic() - started
        on.processes.worker(workers, "fold")

        def first_folded() -> tuple[float, int] | None:
            done = on.client.folded()
            return (time.monotonic(), done) if done else None

        first_s, first_count = wait_until(first_folded, 120, "the first event folded", 0.02)
        wait_until(lambda: on.client.folded() >= sizes.fold_events, 900, "every event folded", 0.02)
        took_s = time.monotonic() - first_s
        incidents = _storm_incidents(on.client, pipelines)
    return {
        "pipelines": len(pipelines),
        "workers": workers,
        "events": sizes.fold_events,
        "per_request": _storm_per_request(sizes.fold_events),
        "incidents": incidents,
        "queueing_s": queueing_s,
        "seconds": took_s,
        "events_per_s": (sizes.fold_events - first_count) / took_s if took_s > 0 else None,
    }


def folds(directory: Path, sizes: Sizes) -> list[dict[str, Any]]:
    return [
        fold(directory, sizes, workers, pipelines)
        for pipelines in ((bodies.PIPELINES[2],), PIPELINES)
        for workers in sizes.fold_workers
    ]


# -- pages ------------------------------------------------------------------------------


def _p1(task: str) -> bytes:
    return encode(airflow_event(Task(P1_PIPELINE, task), P1_TYPE, "P1", _now()))


def p1_during_storm(directory: Path, sizes: Sizes) -> dict[str, Any]:
    """While a storm on one pipeline is posted and folded, a P1 on another every 100 ms:
    its POST to its page's arrival at the SMTP receiver. With the processes `router up`
    starts."""
    storm_pipeline = bodies.PIPELINES[2]
    with stack(directory / "p1", up) as on:
        _warm_up(on, page=True)
        requests = _storm_requests(sizes.storm_events, (storm_pipeline,))

        def post_storm() -> None:
            poster = RouterClient(on.processes.url)
            try:
                for body in requests:
                    poster.post(body)
            finally:
                poster.close()

        def storm_folded() -> bool:
            return on.client.folded(storm_pipeline) >= sizes.storm_events

        storm = threading.Thread(target=post_storm)
        posted: dict[str, float] = {}
        p1_poster = RouterClient(on.processes.url)
        mark = _receiver_mark(on.inbox)
        started = next_s = time.monotonic()
        storm.start()
        try:
            while storm.is_alive() or not storm_folded():
                task = f"p1_{len(posted):06d}"
                body = _p1(task)
                posted[task] = time.monotonic()
                p1_poster.post(body)
                next_s += 0.1
                time.sleep(max(0.0, next_s - time.monotonic()))
        finally:
            storm.join()
            p1_poster.close()
        storm_s = time.monotonic() - started
        tally = Tally(on.inbox, bodies.dag_of(P1_PIPELINE))
        wait_until(lambda: tally.has_all("page", list(posted)), 120, "every P1's page", 0.2)
        paged, duplicates = tally.of("page"), tally.duplicates("page", list(posted))
        cost = _receiver_cost(on.inbox, mark)
    latencies_ms = [(paged[task].mono_s - at) * 1000 for task, at in posted.items()]
    return {
        "p1_sent": len(posted),
        "storm_events": sizes.storm_events,
        "storm_folded_s": storm_s,
        "duplicates": duplicates,
        **cost,
        **summary_ms(latencies_ms),
        "latencies_ms": [round(v, 2) for v in latencies_ms],
    }


async def _post_all(url: str, requests: Sequence[bytes], connections: int) -> None:
    limits = httpx.Limits(max_connections=connections)
    headers = {**AUTH, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(body: bytes) -> None:
            answer = await client.post("/v1/events", content=body, headers=headers)
            if answer.status_code != 202:
                raise RuntimeError(f"bench: POST /v1/events answered {answer.status_code}")

        await asyncio.gather(*(one(body) for body in requests))


BURST_PER_REQUEST = 100


def p1_burst(directory: Path, sizes: Sizes) -> dict[str, Any]:
    """`burst_incidents` distinct P1 incidents posted at once (requests of 100 events,
    all at the same time on eight connections), with the processes `router up` starts.
    pages/s = incidents ÷ the time from the first POST until the last incident's page
    email has reached the SMTP receiver."""
    tasks = [f"burst_{n:06d}" for n in range(sizes.burst_incidents)]
    now = _now()
    requests = [
        encode(
            [
                airflow_event(Task(P1_PIPELINE, task), P1_TYPE, "P1", now)
                for task in tasks[start : start + BURST_PER_REQUEST]
            ]
        )
        for start in range(0, len(tasks), BURST_PER_REQUEST)
    ]
    dag = bodies.dag_of(P1_PIPELINE)
    with stack(directory / "burst", up) as on:
        _warm_up(on, page=True)
        mark = _receiver_mark(on.inbox)
        cpu_before_s = machine_cpu_s()
        started = time.monotonic()
        asyncio.run(_post_all(on.processes.url, requests, connections=8))
        posting_s = time.monotonic() - started

        tally = Tally(on.inbox, dag)
        wait_until(lambda: tally.has_all("page", tasks), 900, "every burst page", 0.05)
        cpu_used_s = machine_cpu_s() - cpu_before_s
        paged, duplicates = tally.of("page"), tally.duplicates("page", tasks)
        cost = _receiver_cost(on.inbox, mark)
    after_ms = [(paged[task].mono_s - started) * 1000 for task in tasks]
    last_s = max(after_ms) / 1000
    return {
        "incidents": len(tasks),
        "per_request": BURST_PER_REQUEST,
        "posting_s": posting_s,
        "last_page_s": last_s,
        "pages_per_s": len(tasks) / last_s,
        "duplicates": duplicates,
        # Steadier than pages/s between runs on a shared machine: what a page cost the
        # two cores, the router's processes, Redis, the receiver and the harness together.
        "machine_cpu_ms_per_page": cpu_used_s * 1000 / len(tasks),
        **cost,
        **summary_ms(after_ms),
        "quantiles_ms": quantiles_ms(after_ms),
    }


# -- escalation timers ------------------------------------------------------------------


def _timer_routing(wait_s: int) -> Callable[[dict[str, Any]], None]:
    """The shipped routing with one rule in front: a failed task of TIMER_PIPELINE is a
    P1 that pages its primary owner at once and escalates to the secondary `wait_s`
    later. Each incident is one escalation timer, set by the router's own fold."""

    def edit(routing: dict[str, Any]) -> None:
        routing["rules"].insert(
            0,
            {
                "name": "bench: escalation timers",
                "match": {"pipeline": TIMER_PIPELINE, "type": "job_failed"},
                "severity": "P1",
                "escalation": "bench_timers",
            },
        )
        routing["escalation_policies"]["bench_timers"] = {
            "repeat": 0,
            "steps": [
                {"notify": ["primary"], "after": f"{wait_s}s"},
                {"notify": ["secondary"], "after": "15m"},
            ],
        }

    return edit


def _due_wall_s(incident: dict[str, Any]) -> float:
    """When the incident's escalation (its second planned step) is due, as the router
    planned it: the first page's instant plus the step's wait."""
    plan = incident["escalation"]
    if len(plan) != 2:
        raise RuntimeError(f"bench: incident {incident['id']} has a {len(plan)}-step plan")
    start = datetime.fromisoformat(incident["deliver_at"].replace("Z", "+00:00"))
    return (start + timedelta(seconds=plan[1]["after_s"])).timestamp()


def timer_lateness(directory: Path, sizes: Sizes) -> dict[str, Any]:
    """`timers` escalation timers falling due evenly over `timers_over_s`: P1 incidents
    posted at that pace (requests of up to 100), each paged at once and escalated
    `timer_wait_s` later by email, through the SMTP backend, to the receiver. Lateness
    is the escalation email's arrival minus the due instant the router planned (read
    from GET /v1/incidents), on the wall clock. With the processes `router up` starts."""
    work = directory / "timers"
    rules = bench_rules(work / "rules", _timer_routing(sizes.timer_wait_s))
    tasks = [f"timer_{n:06d}" for n in range(sizes.timers)]
    per_request = max(1, min(100, sizes.timers // 20))
    now = _now()
    requests = [
        encode(
            [
                airflow_event(Task(TIMER_PIPELINE, task), "job_failed", None, now)
                for task in tasks[start : start + per_request]
            ]
        )
        for start in range(0, len(tasks), per_request)
    ]
    gap_s = sizes.timers_over_s / len(requests)
    dag = bodies.dag_of(TIMER_PIPELINE)
    with stack(work, up, rules) as on:
        _warm_up(on, page=True)
        mark = _receiver_mark(on.inbox)
        started = time.monotonic()
        for n, body in enumerate(requests):
            time.sleep(max(0.0, started + n * gap_s - time.monotonic()))
            on.client.post(body)
        posting_s = time.monotonic() - started

        tally = Tally(on.inbox, dag)
        wait_until(
            lambda: tally.has_all("escalation", tasks),
            sizes.timer_wait_s + sizes.timers_over_s + 900,
            "every escalation",
            0.5,
        )
        # the pages too (on a loaded machine a page can land after its escalation): the
        # receiver's cost below covers every message of the scenario
        wait_until(lambda: tally.has_all("page", tasks), 300, "every page", 0.5)
        escalated, paged = tally.of("escalation"), tally.of("page")
        duplicates = tally.duplicates("escalation", tasks)
        cost = _receiver_cost(on.inbox, mark)
        due = {
            incident["dedup_key"].split("/")[1]: _due_wall_s(incident)
            for incident in on.client.incidents(TIMER_PIPELINE)
        }
    late_ms = [max(0.0, (escalated[task].wall_s - due[task]) * 1000) for task in tasks]
    first_due = min(due[task] for task in tasks)
    return {
        "timers": len(tasks),
        "over_s": sizes.timers_over_s,
        "wait_s": sizes.timer_wait_s,
        "posting_s": posting_s,
        "emails": sum(1 for task in tasks if task in escalated),
        "duplicates": duplicates,
        **cost,
        # Pages still out when the first escalation fell due: 0 means the escalations had
        # the deliver lane to themselves, as the figure assumes.
        "pages_pending_at_first_due": sum(
            1 for task in tasks if task not in paged or paged[task].wall_s > first_due
        ),
        **summary_ms(late_ms),
        "quantiles_ms": quantiles_ms(late_ms),
    }


# -- memory -----------------------------------------------------------------------------


def memory(directory: Path, sizes: Sizes, budget_s: float = 600) -> dict[str, Any]:
    """RSS of the api and of a fold worker (with its pool) before, half-way through and
    after `memory_events` storm events, posted 10,000 at a time and folded each time."""
    pids: dict[str, int] = {}

    def layout(processes: RouterProcesses) -> None:
        pids["api"] = processes.api(1).pid
        processes.scheduler()
        pids["worker"] = processes.worker(2, "fold").pid

    with stack(directory / "memory", layout) as on:
        _warm_up(on, page=False)
        chunk = _storm_requests(min(10_000, sizes.memory_events), (bodies.PIPELINES[2],))
        per_chunk = min(10_000, sizes.memory_events)

        def rss() -> tuple[float, float]:
            return rss_mb(pids["api"]), rss_mb(pids["worker"], with_children=True)

        def post_and_fold() -> None:
            target = on.client.folded() + per_chunk
            for body in chunk:
                on.client.post(body)
            wait_until(lambda: on.client.folded() >= target, 600, "the chunk folded", 0.1)

        post_and_fold()  # warm up: imports, pools, caches
        before, half = rss(), None
        started, sent = time.monotonic(), 0
        while sent < sizes.memory_events and time.monotonic() - started < budget_s:
            post_and_fold()
            sent += per_chunk
            if half is None and sent >= sizes.memory_events // 2:
                half = rss()  # growth after it is growth, not warm-up
        after = rss()
        half = half or after
    return {
        "events": sent,
        "events_wanted": sizes.memory_events,
        "api_mb_before": before[0],
        "api_mb_half": half[0],
        "api_mb_after": after[0],
        "worker_mb_before": before[1],
        "worker_mb_half": half[1],
        "worker_mb_after": after[1],
    }
