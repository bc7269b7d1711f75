"""Fault drills: the router's processes, a Redis the drill owns, and something killed
at the worst moment. Every accepted event is folded, every page is sent exactly once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router import keys
from tests.deployment import Deployment, message_ids
from tests.mailservers import smtp_server
from tests.redis_server import RedisServer
from tests.stack import free_port, wait_until

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
    """4,000 P1 events in four batches of 1,000; the worker dies while folding them."""
    smtp_port = free_port()
    with smtp_server(smtp_port) as inbox:
        deployment = Deployment(tmp_path, own_redis, smtp_port)
        try:
            deployment.api()
            deployment.scheduler()
            worker = deployment.worker()
            accepted = _post_batches(deployment, 4)
            wait_until(lambda: _opened(deployment) > 0, timeout_s=30, what="the first folds")
            assert _opened(deployment) < 4000, "the fold finished before the kill"
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
