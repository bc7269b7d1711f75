"""The accepted batches kept until folded (router.state.ledger), on the session's real
Redis: a batch lost between a worker's BRPOP and its `unacked` record goes back on its
queue; one on its queue, one a worker holds and one folded do not."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from router.queue.tasks import INGEST, INGEST_QUEUE
from router.state import ledger
from router.state.keys import ACCEPTED, ACCEPTED_AT, UNACKED
from router.state.publish import TaskMessage, task_message
from tests.redis_server import flushed_db

DB = 14


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    yield from flushed_db(DB)


def _accepted(client: redis.Redis, name: str) -> TaskMessage:
    """What the API does with a batch it accepts: LPUSH, and keep."""
    message = task_message(INGEST, name, INGEST_QUEUE)
    with client.pipeline(transaction=False) as pipe:
        pipe.lpush(INGEST_QUEUE, message.data)
        ledger.keep(pipe, *message, queue=INGEST_QUEUE)
        pipe.execute()
    return message


def test_a_batch_lost_on_its_way_to_a_worker_goes_back_on_its_queue(client: redis.Redis) -> None:
    lost = _accepted(client, "lost")
    waiting = _accepted(client, "waiting")
    held = _accepted(client, "held")
    assert client.rpop(INGEST_QUEUE) == lost.data  # a BRPOP, and the master gone before
    assert client.rpop(INGEST_QUEUE) == waiting.data  # ... put back by the test
    client.rpush(INGEST_QUEUE, waiting.data)
    client.lrem(INGEST_QUEUE, 1, held.data)  # type: ignore[arg-type]
    client.hset(UNACKED, held.delivery_tag, b"[...]")  # kombu's record: a worker holds it

    assert ledger.requeue_lost(client, not_seen_for_s=0) == 1
    assert client.rpop(INGEST_QUEUE) == lost.data  # at the tail: taken next
    assert client.rpop(INGEST_QUEUE) == waiting.data
    assert client.llen(INGEST_QUEUE) == 0


def test_a_batch_folded_is_let_go_and_one_seen_lately_is_not_looked_at(
    client: redis.Redis,
) -> None:
    folded, recent = _accepted(client, "folded"), _accepted(client, "recent")
    client.delete(INGEST_QUEUE)  # both taken by workers
    ledger.folded(client, folded.task_id)
    assert client.hkeys(ACCEPTED) == [recent.task_id.encode()]
    assert ledger.requeue_lost(client, not_seen_for_s=3600) == 0  # not yet looked at
    assert client.llen(INGEST_QUEUE) == 0
    assert ledger.requeue_lost(client, not_seen_for_s=0) == 1
    assert client.zcard(ACCEPTED_AT) == 1


def test_each_batch_looked_at_is_seen_again_from_then(client: redis.Redis) -> None:
    """A batch found on its queue is not looked at again for `not_seen_for_s`: a backlog
    is not scanned on every sweep."""
    queued = _accepted(client, "queued")
    before = client.zscore(ACCEPTED_AT, queued.task_id)
    assert ledger.requeue_lost(client, not_seen_for_s=0) == 0
    after = client.zscore(ACCEPTED_AT, queued.task_id)
    assert before is not None and after is not None and after > before
    assert client.llen(INGEST_QUEUE) == 1


def test_a_batch_kombu_put_back_is_found_by_its_delivery_tag(client: redis.Redis) -> None:
    """A task rejected or timed out goes back rewritten ("redelivered": true): it is on
    its queue all the same, and stays there once."""
    rejected = _accepted(client, "rejected")
    envelope = json.loads(client.rpop(INGEST_QUEUE))  # type: ignore[arg-type]
    envelope["headers"]["redelivered"] = True
    client.lpush(INGEST_QUEUE, json.dumps(envelope))  # kombu's restore, leftmost
    _accepted(client, "newer")
    assert ledger.requeue_lost(client, not_seen_for_s=0) == 0
    assert client.llen(INGEST_QUEUE) == 2
    assert rejected.delivery_tag in str(client.lindex(INGEST_QUEUE, -1))
