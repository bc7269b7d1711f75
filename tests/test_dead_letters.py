"""Poison isolation: an event whose fold keeps failing is set aside with its error after
a few tries, and the rest of its batch goes on."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from router import deadletters
from router.publish import redis_sender
from router.tasks import INGEST, INGEST_QUEUE, QueuedEvent
from tests.stack import Stack, wait_until


def _queued(event_id: str, pipeline: str) -> dict[str, object]:
    event = {"pipeline": pipeline, "type": "slow_query", "dedup_key": event_id}
    return asdict(QueuedEvent(event_id=event_id, received_at="2026-11-24T18:00:00Z", event=event))


def test_a_poison_event_becomes_a_dead_letter_and_its_batch_goes_on(
    tuesday: Stack, tmp_path: Path
) -> None:
    # Queued under rules that still had the pipeline "retired"; the worker's rules do not.
    batch = [
        _queued("good-1", "growth.aggregate"),
        _queued("poison", "retired.pipeline"),
        _queued("good-2", "growth.aggregate"),
    ]
    send = redis_sender(tuesday.redis)
    send(INGEST, batch, INGEST_QUEUE)
    letters = wait_until(lambda: deadletters.listing(tuesday.redis), what="the dead letter")
    tuesday.settle()
    (letter,) = letters
    assert letter.item.event_id == "poison" and letter.failures == deadletters.MAX_FOLD_FAILURES
    assert "unknown pipeline 'retired.pipeline'" in letter.error
    assert tuesday.redis.zcard("ar:status:triggered") == 2  # good-1 and good-2, once each
    with tuesday.client() as client:
        listed = client.get("/v1/dead-letters").json()["dead_letters"]
    assert [entry["item"]["event_id"] for entry in listed] == ["poison"]
    # Retried (say, after the rules were fixed): queued again, and here it fails again.
    assert deadletters.retry_all(tuesday.redis, send) == 1
    wait_until(lambda: deadletters.listing(tuesday.redis), what="the dead letter again")
    tuesday.settle()
    assert len(deadletters.listing(tuesday.redis)) == 1
    assert tuesday.redis.zcard("ar:status:triggered") == 2
