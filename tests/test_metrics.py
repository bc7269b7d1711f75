"""/metrics with the router's own processes: two api processes and two workers add to
the same numbers (they live in Redis), whichever api process answers the scrape."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.state.metrics import (
    COUNTERS,
    LATENESS,
    LATENESS_BUCKETS_S,
    RedisCollector,
    cumulative,
    observe_lateness,
)
from tests.deployment import Deployment, message_ids
from tests.mailservers import smtp_server
from tests.redis_server import RedisServer, session_redis
from tests.stack import free_port, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def scrape(deployment: Deployment) -> Samples:
    answer = httpx.get(f"{deployment.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def test_counters_move_with_events_and_pages(tmp_path: Path, own_redis: RedisServer) -> None:
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(tmp_path, own_redis, smtp_port)
        try:
            deployment.api(processes=2)
            deployment.worker(concurrency=1)
            deployment.worker(concurrency=1)
            deployment.scheduler()
            wait_until(
                lambda: "router_worker_heartbeat_age_seconds" in {n for n, _ in scrape(deployment)},
                timeout_s=30,
                what="a worker heartbeat",
            )
            before = scrape(deployment)
            assert total(before, "router_events_total") == 0
            events = [
                {
                    "pipeline": "growth.aggregate",
                    "type": "job_failed",
                    "severity": "P1",
                    "summary": f"failed {n}",
                    "dedup_key": f"metrics-{n}",
                    "source": "airflow",
                }
                for n in range(20)
            ]
            answer = deployment.post("/v1/events", events)
            assert answer.status_code == 202, answer.text
            wait_until(lambda: len(set(message_ids(inbox))) >= 20, timeout_s=60, what="20 pages")
            wait_until(deployment.idle, timeout_s=30, what="the workers to drain")
            scrapes = [scrape(deployment) for _ in range(6)]  # both api processes answer
        finally:
            deployment.stop()
    for after in scrapes:
        labels = {"source": "airflow", "pipeline": "growth.aggregate", "severity": "P1"}
        assert total(after, "router_events_total", **labels) == 20
        assert total(after, "router_decisions_total", decision="page") == 20
        assert total(after, "router_messages_sent_total", kind="page", backend="smtp") == 20
        assert total(after, "router_escalation_steps_total", message="page") == 20
        assert total(after, "router_timer_lateness_seconds_count") == 20
        assert total(after, "router_timer_lateness_seconds_bucket", le="+Inf") == 20
        assert total(after, "router_queue_depth", queue="router.urgent") == 0
        assert 0 <= total(after, "router_worker_heartbeat_age_seconds") < 60
        # every process's clock against Redis's: the two api processes, the scheduler, and
        # each worker's pool processes
        measured = {
            dict(k[1])["process"]: v
            for k, v in after.items()
            if k[0] == "router_clock_offset_seconds"
        }
        roles = sorted(name.split()[0] for name in measured)
        assert roles.count("api") == 2 and roles.count("scheduler") == 1, measured
        assert roles.count("worker") >= 2, measured
        assert all(abs(offset) < 1 for offset in measured.values())
    assert (
        len(
            {
                tuple(
                    sorted(
                        (k, v)
                        for k, v in s.items()
                        if "heartbeat" not in k[0] and "clock_offset" not in k[0]
                    )
                )
                for s in scrapes
            }
        )
        == 1
    )


def test_the_example_dashboard_uses_metrics_the_router_exports() -> None:
    dashboard = json.loads(
        (Path(__file__).parents[1] / "docs" / "grafana-dashboard.json").read_text()
    )
    exported = {f"{name}_total" for name in COUNTERS} | {
        f"{LATENESS}_bucket",
        "router_queue_depth",
        "router_worker_heartbeat_age_seconds",
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"router_[a-z_]+", target["expr"])
    }
    assert used and used <= exported, used - exported


_BOUNDS = [*(str(bound) for bound in LATENESS_BUCKETS_S), "+Inf"]


def _legacy(*late_s: float) -> dict[str, float]:
    return {str(b): float(sum(1 for s in late_s if s <= b)) for b in LATENESS_BUCKETS_S} | {
        "+Inf": float(len(late_s))
    }


@pytest.mark.parametrize(
    ("in_bucket", "legacy_le", "at_bound"),
    [
        ({}, {}, {b: 0.0 for b in _BOUNDS}),
        ({"0.1": 2}, {}, {b: 2.0 for b in _BOUNDS}),
        ({"1.0": 1, "+Inf": 1}, {}, {"0.5": 0.0, "1.0": 1.0, "900.0": 1.0, "+Inf": 2.0}),
        # stored by an earlier version, already cumulative, beside new observations
        # what an earlier version stored (every bucket at or above 0.3, 3 and 100 s),
        # beside a new observation of 4 s
        ({"5.0": 1}, _legacy(0.3, 3, 100), {"0.25": 0.0, "0.5": 1.0, "5.0": 3.0, "+Inf": 4.0}),
    ],
)
def test_lateness_buckets_add_up_to_prometheus_cumulative_counts(
    in_bucket: dict[str, float], legacy_le: dict[str, float], at_bound: dict[str, float]
) -> None:
    counts = dict(zip(_BOUNDS, cumulative(in_bucket, legacy_le), strict=True))
    assert {bound: counts[bound] for bound in at_bound} == at_bound
    assert list(counts.values()) == sorted(counts.values())


def test_an_observation_is_two_commands_and_scrapes_as_a_histogram() -> None:
    client = session_redis().client(9)
    client.flushdb()
    try:
        for late_s in (0.05, 0.7, 0.7, 42.0, 5000.0, -1.0):
            with client.pipeline() as pipe:
                observe_lateness(pipe, late_s)
                assert len(pipe.command_stack) == 2
                pipe.execute()
        collector = RedisCollector(client, lambda: datetime(2026, 12, 1, tzinfo=UTC))
        (family,) = [f for f in collector.collect() if f.name == LATENESS]
        found = {s.labels.get("le", s.name): s.value for s in family.samples}
    finally:
        client.flushdb()
        client.close()
    assert found["0.1"] == 2  # 0.05, and -1 counted as on time
    assert found["1.0"] == 4
    assert found["60.0"] == 5
    assert found["+Inf"] == 6
    assert found[f"{LATENESS}_count"] == 6
    assert found[f"{LATENESS}_sum"] == pytest.approx(0.05 + 1.4 + 42 + 5000)
