"""Poison isolation: an event whose fold keeps failing is set aside with its error after
a few tries, and the rest of its batch goes on."""

from __future__ import annotations

import json
from pathlib import Path

from msgspec.structs import replace

from router.queue.tasks import INGEST, INGEST_QUEUE, QueuedEvent, encode_batch
from router.state import deadletters
from router.state.publish import publish, redis_sender
from tests.stack import Stack, wait_until
from tests.support import pacific, queued


def _queued_before(event_id: str, pipeline: str) -> dict[str, object]:
    """A version-1 queue item, as the API queued it before 0.3: the event as sent."""
    event = {"pipeline": pipeline, "type": "slow_query", "dedup_key": event_id}
    return {"event_id": event_id, "received_at": "2026-11-24T18:00:00Z", "event": event}


def test_a_poison_event_becomes_a_dead_letter_and_its_batch_goes_on(
    tuesday: Stack, tmp_path: Path
) -> None:
    # Queued before an upgrade (version 1), under rules that still had the pipeline
    # "retired"; the worker's rules do not.
    batch = [
        _queued_before("good-1", "growth.aggregate"),
        _queued_before("poison", "retired.pipeline"),
        _queued_before("good-2", "growth.aggregate"),
    ]
    rules = tuesday.runtime.rules
    publish(tuesday.redis, INGEST, batch, INGEST_QUEUE)  # type: ignore[arg-type]  # version 1
    letters = wait_until(lambda: deadletters.listing(tuesday.redis, rules), what="the dead letter")
    tuesday.settle()
    (letter,) = letters
    assert letter.item.event_id == "poison" and letter.failures == deadletters.MAX_FOLD_FAILURES
    assert "unknown pipeline 'retired.pipeline'" in letter.error
    assert tuesday.redis.zcard("ar:status:triggered") == 2  # good-1 and good-2, once each
    with tuesday.client() as client:
        listed = client.get("/v1/dead-letters").json()["dead_letters"]
    assert [entry["item"]["event_id"] for entry in listed] == ["poison"]
    # Retried (say, after the rules were fixed): queued again, and here it fails again.
    assert deadletters.retry_all(tuesday.redis, rules, redis_sender(tuesday.redis)) == 1
    wait_until(lambda: deadletters.listing(tuesday.redis, rules), what="the dead letter again")
    tuesday.settle()
    assert len(deadletters.listing(tuesday.redis, rules)) == 1
    assert tuesday.redis.zcard("ar:status:triggered") == 2


def test_an_event_queued_for_a_pipeline_the_rules_dropped_becomes_a_dead_letter(
    tuesday: Stack,
) -> None:
    """Version 2: the worker trusts the checked event, but not a pipeline it no longer
    has; the letter, stored before 0.3 or now, reads back."""
    at = pacific("2026-11-24 10:00")
    good = queued("good", {"pipeline": "growth.aggregate", "type": "slow_query"}, at)
    poison = QueuedEvent("poison", at, replace(good.event, pipeline="retired.pipeline"))
    rules = tuesday.runtime.rules
    redis_sender(tuesday.redis)(INGEST, encode_batch([good, poison]), INGEST_QUEUE)
    letters = wait_until(lambda: deadletters.listing(tuesday.redis, rules), what="the dead letter")
    tuesday.settle()
    assert [letter.item for letter in letters] == [poison]
    assert tuesday.redis.zcard("ar:status:triggered") == 1
    before = {  # as 0.2 stored it: the item as sent
        "item": _queued_before("old", "growth.aggregate"),
        "error": "x",
        "failures": 3,
        "at": "2026-11-24T18:00:00Z",
    }
    tuesday.redis.rpush("ar:dead-letters", json.dumps(before))
    old = deadletters.listing(tuesday.redis, rules)[-1]
    assert old.item.event.dedup_key == "old" and old.item.event.pipeline == "growth.aggregate"


def test_a_task_no_worker_can_read_is_kept_not_dropped(tuesday: Stack) -> None:
    """A batch of a version this worker does not know (a newer API): acknowledged, so it
    does not loop, and kept as it came for someone to read."""
    argument = '{"v": 4, "events": []}'
    redis_sender(tuesday.redis)(INGEST, argument, INGEST_QUEUE)
    (kept,) = wait_until(lambda: deadletters.unreadable(tuesday.redis), what="the kept task")
    assert kept.raw == argument and "batch version 4" in kept.error
    with tuesday.client() as client:
        listed = client.get("/v1/dead-letters").json()["unreadable"]
    assert [entry["raw"] for entry in listed] == [argument]
