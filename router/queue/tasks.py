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
from datetime import datetime
from typing import Literal

import msgspec

from router.core.events import Aware, Event, EventIn, event_in_zone, to_event
from router.core.rules import Rules

INGEST = "router.ingest"  # argument: a batch of events (encode_batch)
FIRE = "router.fire"  # argument: a list of timer members (router.state.timers)
FIRE_BATCH = 50  # timers in one fire task: its fixed costs (a Celery task, the read-ahead,
# the claims) shared by more pages, and still spread over the workers
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
    # The fold lane's bulk alone, beside an urgent lane (`router up`, docker-compose.yml):
    # P1 batches are then folded by the urgent lane only, never in a process niced for
    # bulk, and a burst's P1 batches of one pipeline never race each other's WATCH.
    "ingest": (INGEST_QUEUE,),
    "deliver": (DELIVER_QUEUE,),
    "all": QUEUES,
}

# CPU niceness a lane's worker processes take unless told: during a storm the fold lane
# yields the two cores to the API, the urgent lane and delivery, so a page never waits
# for a core behind bulk folding (docs/performance.md)
NICE_BY_LANE: dict[str, int] = {"fold": 10, "ingest": 10}

FireResult = Literal["sent", "nothing", "stale", "early", "muted", "busy", "retry", "failed"]


TaskArgument = str | list[str]
"""What a task carries: an encoded batch of events (INGEST), or timer members (FIRE)."""

Send = Callable[[str, TaskArgument, str], object]
"""send(task, argument, queue) queues one task for the workers; raises if the broker
cannot take it."""

AsyncSend = Callable[[str, TaskArgument, str], Awaitable[object]]
"""The API's `send`, awaited on its event loop (router.state.publish.AsyncSender)."""

BATCH_VERSION = 3
"""Version 3: each event as the API checked it (router.core.events.Event: UTC time, dedup
key settled), as arrays in Event's field order: version 2 named every field of every
event (31 KB for 100 bare events against 18 KB), and the queue's bytes are what Redis
writes to its append-only file. Version 2 (0.3 to 0.4) still folds, and so does
version 1 (before 0.3): a JSON list of each event as sent."""


class QueuedEvent(msgspec.Struct, frozen=True):
    """One event as the API checked it, its id (the `seen` marker), and when it arrived."""

    event_id: str
    received_at: Aware
    event: Event


_EventRow = msgspec.defstruct(
    "_EventRow",
    [(field.name, field.type) for field in msgspec.structs.fields(Event)],
    array_like=True,
    frozen=True,
)
"""An Event as a version-3 batch carries it: Event's fields and types, by position."""


class _BatchV3(msgspec.Struct, frozen=True, tag_field="v", tag=3):
    events: list[tuple[str, Aware, _EventRow]]  # type: ignore[valid-type]


class _BatchV2(msgspec.Struct, frozen=True, tag_field="v", tag=2):
    events: list[QueuedEvent]


class _Version(msgspec.Struct):
    v: object = None


_DECODE = msgspec.json.Decoder(_BatchV3 | _BatchV2)
_ENCODE = msgspec.json.Encoder()
_astuple = msgspec.structs.astuple


def encode_batch(items: list[QueuedEvent]) -> str:
    """The INGEST task's argument: one JSON string, decoded by the worker in one step
    (kombu only moves it)."""
    rows = [(item.event_id, item.received_at, _astuple(item.event)) for item in items]
    return _ENCODE.encode(_BatchV3(rows)).decode()


@dataclass(frozen=True, slots=True)
class Unreadable:
    """What of a task could not be read (a version this worker does not know, an item
    of version 1 that does not validate): kept as it came, with why."""

    raw: str
    error: str


@dataclass(frozen=True, slots=True)
class Decoded:
    events: list[QueuedEvent]
    unreadable: list[Unreadable]


def decode_batch(argument: str | list[dict[str, object]], rules: Rules) -> Decoded:
    """The events of an INGEST task, trusted as the API checked them. `rules` reads a
    version-1 batch (queued before an upgrade), checked again as it was then, item by
    item. Nothing raises: what cannot be read is returned as it came."""
    if isinstance(argument, str):
        try:
            batch = _DECODE.decode(argument)
        except msgspec.DecodeError as error:
            return Decoded([], [Unreadable(argument, _unread(argument, error))])
        if isinstance(batch, _BatchV2):
            return Decoded(batch.events, [])
        events = [
            QueuedEvent(event_id, received_at, Event(*_astuple(row)))
            for event_id, received_at, row in batch.events
        ]
        return Decoded(events, [])
    events, unreadable = [], []
    for item in argument:
        try:
            events.append(_legacy(item, rules))
        except Exception as error:  # validation, a missing field, a bad time
            raw = _ENCODE.encode(item).decode()
            unreadable.append(Unreadable(raw, f"{type(error).__name__}: {error}"))
    return Decoded(events, unreadable)


def _unread(argument: str, error: msgspec.DecodeError) -> str:
    try:
        version = msgspec.json.decode(argument, type=_Version).v
    except msgspec.DecodeError:
        version = None
    if isinstance(version, int) and version not in (2, BATCH_VERSION):
        return f"batch version {version}: this worker reads 1 to {BATCH_VERSION}"
    return f"not a batch: {error}"


def _legacy(item: dict[str, object], rules: Rules) -> QueuedEvent:
    """A version-1 item: {event_id, received_at, event as sent}. Its event was checked by
    the API that queued it; an unknown pipeline (the rules changed since) still reads,
    a naive time in the team's zone, and the fold sets it aside."""
    received_at = datetime.fromisoformat(str(item["received_at"]))
    raw = EventIn.model_validate(item["event"])
    if raw.pipeline in rules.pipelines:
        event = to_event(raw, rules, received_at)
    else:
        event = event_in_zone(raw, rules.team.zone, received_at)
    return QueuedEvent(str(item["event_id"]), received_at, event)
