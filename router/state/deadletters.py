"""Events whose fold keeps failing: set aside with their error so the rest goes on.

A batch task folds each event on its own. An event that raises (anything but a Redis
error, which redelivers the whole task) is counted; the task is requeued so the events
after it are not held up, and at MAX_FOLD_FAILURES the event moves to the dead-letter
list, its `seen` marker set in the same transaction so the batch's next run skips it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import msgspec
import redis

from router.core.rules import Rules
from router.core.times import iso_z
from router.queue.tasks import (
    INGEST,
    INGEST_QUEUE,
    QueuedEvent,
    Send,
    Unreadable,
    decode_batch,
    encode_batch,
)
from router.state import keys

log = logging.getLogger(__name__)
MAX_FOLD_FAILURES = 3


@dataclass(frozen=True, slots=True)
class DeadLetter:
    item: QueuedEvent
    error: str
    failures: int
    at: str
    v: int = 2
    """2: `item` is the event as the API checked it (0.3); stored before, none and the
    item as sent."""


@dataclass(frozen=True, slots=True)
class _StoredBefore:
    """A dead letter stored before 0.3: its item is a version-1 queue item."""

    item: dict[str, object]
    error: str
    failures: int
    at: str


@dataclass(frozen=True, slots=True)
class UnreadableTask:
    """What of a task no worker could read, kept as it came (router.queue.tasks.Unreadable)."""

    raw: str
    error: str
    at: str


_READ = msgspec.json.Decoder(DeadLetter)
_READ_UNREADABLE = msgspec.json.Decoder(UnreadableTask)
_READ_BEFORE = msgspec.json.Decoder(_StoredBefore)


def record_failure(client: redis.Redis, item: QueuedEvent, error: str, now: datetime) -> bool:
    """Count one failed fold; True when the event became a dead letter."""
    failures = int(client.hincrby(keys.FOLD_FAILURES, item.event_id, 1))
    if failures < MAX_FOLD_FAILURES:
        return False
    letter = DeadLetter(item=item, error=error[:2000], failures=failures, at=iso_z(now))
    with client.pipeline() as pipe:
        pipe.rpush(keys.DEAD_LETTERS, msgspec.json.encode(letter))
        pipe.hdel(keys.FOLD_FAILURES, item.event_id)
        pipe.set(keys.seen(item.event_id), "dead letter", ex=7 * 86400)
        pipe.execute()
    return True


def set_aside_unreadable(client: redis.Redis, found: list[Unreadable], now: datetime) -> None:
    log.error("%d item(s) of a task could not be read: kept in %s", len(found), keys.UNREADABLE)
    kept = [msgspec.json.encode(UnreadableTask(u.raw, u.error, iso_z(now))) for u in found]
    client.rpush(keys.UNREADABLE, *kept)


def unreadable(client: redis.Redis, limit: int = 1000) -> list[UnreadableTask]:
    return [_READ_UNREADABLE.decode(raw) for raw in client.lrange(keys.UNREADABLE, 0, limit - 1)]


def listing(client: redis.Redis, rules: Rules, limit: int = 1000) -> list[DeadLetter]:
    """The dead letters, oldest first; `rules` reads those stored before 0.3. One that
    cannot be read is logged and left in the list."""
    letters = []
    for raw in client.lrange(keys.DEAD_LETTERS, 0, limit - 1):
        try:
            letters.append(_read(raw, rules))
        except (msgspec.ValidationError, ValueError) as error:
            log.error("a dead letter cannot be read (%s): %.200r", error, raw)
    return letters


def _read(raw: bytes | str, rules: Rules) -> DeadLetter:
    try:
        return _READ.decode(raw)
    except msgspec.ValidationError:  # no `v`: stored before 0.3
        old = _READ_BEFORE.decode(raw)
        decoded = decode_batch([old.item], rules)
        if decoded.unreadable:
            raise ValueError(decoded.unreadable[0].error) from None
        (item,) = decoded.events
        return DeadLetter(item, old.error, old.failures, old.at)


def retry_all(client: redis.Redis, rules: Rules, send: Send) -> int:
    """Queue every dead letter again as one batch; returns how many.

    Order matters for crashes: the markers go first, the list entries last, so a retry
    that dies half-way leaves the letters listed (folding them twice is a no-op)."""
    letters = listing(client, rules)
    if not letters:
        return 0
    client.delete(*[keys.seen(letter.item.event_id) for letter in letters])
    send(INGEST, encode_batch([letter.item for letter in letters]), INGEST_QUEUE)
    client.ltrim(keys.DEAD_LETTERS, len(letters), -1)
    return len(letters)
