"""The contract between the processes: task names, queues, and how a task is queued.

Two queues, consumed in this order by every worker: `router.urgent` (due escalation
steps and notices, and batches carrying a P1) always before `router.ingest` (everything
else), so a page never waits behind an ingest storm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

INGEST = "router.ingest"  # argument: list of QueuedEvent as JSON
FIRE = "router.fire"  # argument: a list of timer members (router.timers)
FIRE_BATCH = 20  # timers in one fire task: fewer tasks, and still spread over the workers

URGENT_QUEUE = "router.urgent"
INGEST_QUEUE = "router.ingest"
QUEUES = (URGENT_QUEUE, INGEST_QUEUE)  # the order workers consume them in

FireResult = Literal["sent", "nothing", "stale", "early", "busy", "retry", "failed"]


Send = Callable[[str, Any, str], object]
"""send(task, argument, queue) queues one task for the workers; raises if the broker
cannot take it."""

AsyncSend = Callable[[str, Any, str], Awaitable[object]]
"""The API's `send`, awaited on its event loop (router.publish.AsyncSender)."""


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """One event as the API queued it: the event as sent (naive times too), its id, and
    when it arrived (what a missing `occurred_at` means). A dataclass, not a model: the
    API builds one per event on its hottest path and orjson writes it natively; the
    worker validates what it reads with QUEUED_BATCH."""

    event_id: str
    received_at: str
    event: dict[str, Any]


QUEUED_BATCH = TypeAdapter(list[QueuedEvent])
