"""Events whose fold keeps failing: set aside with their error so the rest goes on.

A batch task folds each event on its own. An event that raises (anything but a Redis
error, which redelivers the whole task) is counted; the task is requeued so the events
after it are not held up, and at MAX_FOLD_FAILURES the event moves to the dead-letter
list, its `seen` marker set in the same transaction so the batch's next run skips it.
"""

from __future__ import annotations

from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict

from router import keys
from router.tasks import INGEST, INGEST_QUEUE, QueuedEvent, Send
from router.times import iso_z

MAX_FOLD_FAILURES = 3


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: QueuedEvent
    error: str
    failures: int
    at: str


def record_failure(client: redis.Redis, item: QueuedEvent, error: str, now: datetime) -> bool:
    """Count one failed fold; True when the event became a dead letter."""
    failures = int(client.hincrby(keys.FOLD_FAILURES, item.event_id, 1))
    if failures < MAX_FOLD_FAILURES:
        return False
    letter = DeadLetter(item=item, error=error[:2000], failures=failures, at=iso_z(now))
    with client.pipeline() as pipe:
        pipe.rpush(keys.DEAD_LETTERS, letter.model_dump_json())
        pipe.hdel(keys.FOLD_FAILURES, item.event_id)
        pipe.set(keys.seen(item.event_id), "dead letter", ex=7 * 86400)
        pipe.execute()
    return True


def listing(client: redis.Redis, limit: int = 1000) -> list[DeadLetter]:
    return [
        DeadLetter.model_validate_json(raw)
        for raw in client.lrange(keys.DEAD_LETTERS, 0, limit - 1)
    ]


def retry_all(client: redis.Redis, send: Send) -> int:
    """Queue every dead letter again as one batch; returns how many.

    Order matters for crashes: the markers go first, the list entries last, so a retry
    that dies half-way leaves the letters listed (folding them twice is a no-op)."""
    letters = listing(client)
    if not letters:
        return 0
    client.delete(*[keys.seen(letter.item.event_id) for letter in letters])
    send(INGEST, [letter.item for letter in letters], INGEST_QUEUE)
    client.ltrim(keys.DEAD_LETTERS, len(letters), -1)
    return len(letters)
