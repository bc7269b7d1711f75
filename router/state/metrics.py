"""Prometheus metrics kept in Redis, so every api and worker process (and container)
adds to the same numbers and /metrics in any api process shows them all.

Counters and histogram buckets are fields of one hash (`ar:metrics`), added to with
HINCRBY in the same transaction as what they count where there is one (a fold counts
its events and decisions in its own MULTI: a redelivered batch counts nothing twice).
An observation adds to the one bucket it falls in (`in=`, two commands with its sum);
the scrape adds them up into Prometheus's cumulative `le` buckets, together with any
`le=` fields an earlier version stored (it added to every bucket at or above).
Queue depths and the worker heartbeat's age are read when scraped. prometheus-client
writes the text format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import redis
import redis.asyncio
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from router.queue.tasks import QUEUES
from router.state.keys import FAILOVERS, HEARTBEATS, METRICS
from router.state.pipe import Pipe
from router.state.watch import offsets

LATENESS_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "router_events": (
        "Events folded (a redelivered event is not counted again)",
        ("source", "pipeline", "severity"),
    ),
    "router_decisions": ("Decisions made for folded events", ("decision",)),
    "router_messages_sent": ("Messages delivered", ("kind", "backend")),
    "router_messages_failed": ("Messages failed for good", ("kind", "backend")),
    "router_message_retries": ("Delivery attempts that will be retried", ("kind", "backend")),
    "router_escalation_steps": ("Escalation steps fired (first pages included)", ("message",)),
    "router_api_unconfirmed": (
        "Requests answered 503 because fewer replicas than ROUTER_REDIS_MIN_REPLICAS "
        "confirmed their write in time",
        ("path",),
    ),
}
LATENESS = "router_timer_lateness_seconds"
_SEP, _EQ, _AND = "|", "=", "&"


def _field(name: str, labels: Mapping[str, object]) -> str:
    said = _AND.join(f"{key}{_EQ}{str(value).replace(_AND, '_')}" for key, value in labels.items())
    return f"{name}{_SEP}{said}"


def count(pipe: Pipe, name: str, labels: Mapping[str, object], by: int = 1) -> None:
    """Add to a counter on a client, pipeline or MULTI."""
    pipe.hincrby(METRICS, _field(name, labels), by)


async def count_now(
    client: redis.asyncio.Redis, name: str, labels: Mapping[str, object], by: int = 1
) -> None:
    """`count` on the API's asyncio client, on its own."""
    await client.hincrby(METRICS, _field(name, labels), by)


@dataclass(frozen=True)
class Counted:
    """An addition to a counter, as data: written later by whoever writes what it
    counts (router.delivery.firing)."""

    name: str
    labels: tuple[tuple[str, str], ...]
    by: int = 1


@dataclass(frozen=True)
class Lateness:
    """A due timer that fired `late_s` late, as data."""

    late_s: float


Observed = Counted | Lateness


def counting(name: str, labels: Mapping[str, object], by: int = 1) -> Counted:
    """`count` later, on whatever pipeline the caller is writing."""
    return Counted(name, tuple((key, str(value)) for key, value in labels.items()), by)


def write(pipe: Pipe, metric: Observed) -> None:
    if isinstance(metric, Counted):
        count(pipe, metric.name, dict(metric.labels), metric.by)
    else:
        observe_lateness(pipe, metric.late_s)


_INF = "+Inf"
_BOUNDS = [*(str(bound) for bound in LATENESS_BUCKETS_S), _INF]
_IN_FIELDS = {bound: _field(LATENESS, {"in": bound}) for bound in _BOUNDS}
_SUM_FIELD = _field(LATENESS, {"sum": ""})


def observe_lateness(pipe: Pipe, late_s: float) -> None:
    late_s = max(0.0, late_s)
    bucket = next((str(b) for b in LATENESS_BUCKETS_S if late_s <= b), _INF)
    pipe.hincrby(METRICS, _IN_FIELDS[bucket], 1)
    pipe.hincrbyfloat(METRICS, _SUM_FIELD, late_s)


def cumulative(in_bucket: Mapping[str, float], legacy_le: Mapping[str, float]) -> list[float]:
    """Prometheus's `le` counts, one per bound of _BOUNDS: the observations in each
    bucket added up from the smallest, plus what an earlier version stored cumulative."""
    counts, running = [], 0.0
    for bound in _BOUNDS:
        running += in_bucket.get(bound, 0.0)
        counts.append(running + legacy_le.get(bound, 0.0))
    return counts


def _parse(field: str) -> tuple[str, dict[str, str]]:
    name, _, said = field.partition(_SEP)
    labels = dict(part.split(_EQ, 1) for part in said.split(_AND) if part)
    return name, labels


class RedisCollector(Collector):
    """What /metrics shows, read from Redis at each scrape."""

    def __init__(self, client: redis.Redis, now: Callable[[], datetime]) -> None:
        """`now()` gives the current instant (the runtime's clock)."""
        self.redis, self.now = client, now

    def collect(self) -> Iterator[Metric]:
        with self.redis.pipeline(transaction=False) as reads:
            reads.hgetall(METRICS)
            for queue in QUEUES:
                reads.llen(queue)
            reads.zrevrange(HEARTBEATS, 0, 0, withscores=True)
            reads.scard(FAILOVERS)
            stored, *depths, newest, failovers = reads.execute()
        now: datetime = self.now()
        families = {
            name: CounterMetricFamily(name, text, labels=list(labels))
            for name, (text, labels) in COUNTERS.items()
        }
        in_bucket: dict[str, float] = {}
        legacy_le: dict[str, float] = {}
        total_s = 0.0
        for raw_field, raw_value in stored.items():
            name, labels = _parse(raw_field.decode())
            if name in families:
                wanted = COUNTERS[name][1]
                families[name].add_metric([labels.get(k, "") for k in wanted], int(raw_value))
            elif name == LATENESS and "in" in labels:
                in_bucket[labels["in"]] = float(raw_value)
            elif name == LATENESS and "le" in labels:
                legacy_le[labels["le"]] = float(raw_value)
            elif name == LATENESS:
                total_s = float(raw_value)
        yield from families.values()
        lateness = HistogramMetricFamily(
            LATENESS, "How late due timers (escalation steps) fired, in seconds"
        )
        counts = cumulative(in_bucket, legacy_le)
        lateness.add_metric([], list(zip(_BOUNDS, counts, strict=True)), total_s)
        yield lateness
        depth = GaugeMetricFamily("router_queue_depth", "Tasks waiting per queue", labels=["queue"])
        for queue, length in zip(QUEUES, depths, strict=True):
            depth.add_metric([queue], int(length))
        yield depth
        age = GaugeMetricFamily(
            "router_worker_heartbeat_age_seconds",
            "Seconds since the newest worker heartbeat (absent: no worker ever seen)",
        )
        if newest:
            age.add_metric([], max(0.0, now.timestamp() - float(newest[0][1])))
        yield age
        switched = CounterMetricFamily(
            "router_redis_failovers_seen",
            "Redis failovers a router process saw: each new master counted once",
        )
        switched.add_metric([], int(failovers))
        yield switched
        skew = GaugeMetricFamily(
            "router_clock_offset_seconds",
            "Redis's clock minus each running process's, which it corrects for",
            labels=["process"],
        )
        for name, offset_s in offsets(self.redis, now).items():
            skew.add_metric([name], offset_s)
        yield skew
