"""The contract between the processes: task names, queues, lanes, and how a task is queued.

Three queues in two lanes. Folding: `router.urgent` (batches carrying a P1) always before
`router.ingest` (every other batch), so a P1 never waits behind an ingest storm.
Delivering: `router.deliver` (due escalation steps, notices, pushes, chat lines). A lane
is a worker process of its own (`router worker --lane`), so a slow mail server, which
holds a delivering worker for its timeout, never holds up a fold, and a fold storm never
holds up a page. A worker of lane `all` takes every queue, urgent first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import TypeAdapter

INGEST = "router.ingest"  # argument: list of QueuedEvent as JSON
FIRE = "router.fire"  # argument: a list of timer members (router.timers)
FIRE_BATCH = 20  # timers in one fire task: fewer tasks, and still spread over the workers
FIRE_SHARE_OF_LEASE = 0.5
"""A fire task hands back the timers it has not reached once it has run this share of
the timer lease, so none of them is fired after its lease ran out."""

URGENT_QUEUE = "router.urgent"
INGEST_QUEUE = "router.ingest"
DELIVER_QUEUE = "router.deliver"
QUEUES = (URGENT_QUEUE, DELIVER_QUEUE, INGEST_QUEUE)  # the order workers consume them in

LANES: dict[str, tuple[str, ...]] = {
    "fold": (URGENT_QUEUE, INGEST_QUEUE),
    "urgent": (URGENT_QUEUE,),  # P1 folds alone: never behind a batch another worker holds
    "deliver": (DELIVER_QUEUE,),
    "all": QUEUES,
}

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
