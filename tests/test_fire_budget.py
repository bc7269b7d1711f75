"""A fire task carries only as many sends as fit well inside the timer lease: once it has
run half of it, the timers it has not reached go back, due now, rather than be fired
after their leases ran out. Real Redis, the real Celery task, a mail server that hangs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from router.core.message import OutgoingMessage
from router.delivery.mail.backends.smtp import SmtpBackend
from router.processes.worker import create_celery
from router.queue.tasks import FIRE
from router.service.runtime import Runtime, build_runtime
from router.state import keys, outbox
from router.state.timers import claim_due
from tests.mailservers import Tarpit
from tests.stack import free_port, settings_for
from tests.support import RULES_DIR, queued

DB = 8
LEASE_S = 1.0


@dataclass
class Hanging:
    runtime: Runtime
    fire: Callable[[list[str]], list[str]]
    """The real Celery task, called in this process."""
    tarpit: Tarpit


@pytest.fixture
def hanging(tmp_path: Path) -> Iterator[Hanging]:
    """A runtime whose SMTP server accepts and never answers: each attempt waits out the
    SMTP timeout, longer than half the lease."""
    port = free_port()
    tarpit = Tarpit(port)
    settings = settings_for(
        RULES_DIR, tmp_path / "outbox", db=DB, ROUTER_TIMER_LEASE_S=str(LEASE_S)
    )
    runtime = build_runtime(settings, backend=SmtpBackend("127.0.0.1", port, timeout_s=0.8))
    runtime.redis.flushdb()
    try:
        yield Hanging(
            runtime, create_celery(lambda: runtime, settings.redis_url).tasks[FIRE], tarpit
        )
    finally:
        tarpit.end()
        runtime.redis.flushdb()


def test_a_fire_task_hands_back_what_it_has_no_time_left_for(hanging: Hanging) -> None:
    client, now = hanging.runtime.redis, datetime.now(UTC)
    with client.pipeline() as pipe:
        for n in range(3):
            message = OutgoingMessage(
                idempotency_key=f"notice-{n}",
                kind="report_ready",
                to=["analyst@example.com"],
                subject=f"n{n}",
                text="t",
                html="h",
            )
            outbox.put(pipe, message, now)
        pipe.execute()
    members = claim_due(client, now.timestamp(), LEASE_S)
    assert len(members) == 3
    fired = hanging.fire(members)
    assert len(fired) == 1 and fired[0].startswith("retry")  # the first: timed out
    rest = members[1:]
    assert [client.zscore(keys.LEASED, m) for m in rest] == [None, None]
    due = [client.zscore(keys.TIMERS, m) for m in rest]
    assert all(d is not None and d <= datetime.now(UTC).timestamp() for d in due)
    assert hanging.tarpit.connections == 1


def test_pages_handed_back_leave_no_claimed_marker_behind(hanging: Hanging) -> None:
    """A fire task claims its pages' markers ahead (one round trip for them all): those of
    the timers it hands back are let go with them, so the worker that fires them next
    sends at once rather than finding them held until the lease runs out."""
    client, now = hanging.runtime.redis, datetime.now(UTC)
    events = [
        queued(
            f"e{n}",
            {"pipeline": "profit.aggregate", "type": "aggregation_error",
             "severity": "P1", "dedup_key": f"run-{n}"},
            now,
        )
        for n in range(3)
    ]  # fmt: skip
    hanging.runtime.engine.intake.ingest(events, now, False)
    leased = client.zrange(keys.LEASED, 0, -1)
    assert isinstance(leased, list)
    members = sorted(m.decode() for m in leased if isinstance(m, bytes) and m[:5] == b"step:")
    assert len(members) == 3  # each P1's first step, leased to fire at once
    fired = hanging.fire(members)
    assert len(fired) == 1 and fired[0].startswith("retry")  # the first: timed out
    assert [client.zscore(keys.LEASED, m) for m in members[1:]] == [None, None]
    assert client.keys(keys.sent("*")) == []  # nothing claimed is left held
