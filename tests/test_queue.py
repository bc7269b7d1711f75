"""The queue's contract (router.queue.tasks): a batch as the API checked it, read in one step;
a batch queued before the upgrade still read; what cannot be read kept, never raised."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from router.config.load import load_rules
from router.core.rules import Rules
from router.queue.tasks import decode_batch, encode_batch
from tests.support import RULES_DIR, pacific, queued

AT = pacific("2026-11-24 10:00")


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_DIR)


def test_a_batch_reads_back_as_the_api_checked_it(rules: Rules) -> None:
    sent: dict[str, object] = {
        "pipeline": "growth.aggregate",
        "type": "slow_query",
        "details": {"n": [1, 2.5]},
    }
    items = [queued("e1", sent, AT), queued("e2", {**sent, "occurred_at": "2026-11-24T09:00"}, AT)]
    decoded = decode_batch(encode_batch(items), rules)
    assert decoded.events == items and decoded.unreadable == []
    assert decoded.events[1].event.occurred_at == datetime(2026, 11, 24, 17, tzinfo=UTC)


def test_a_version_2_batch_queued_before_the_upgrade_still_reads(rules: Rules) -> None:
    """Version 2 named every field of every event; version 3 carries them by position."""
    sent: dict[str, object] = {"pipeline": "growth.aggregate", "type": "slow_query"}
    items = [
        queued("e1", sent, AT),
        queued("e2", {**sent, "links": [{"href": "https://x.example"}]}, AT),
    ]
    version_2 = msgspec.json.encode({"v": 2, "events": items}).decode()
    assert '"event_id":"e1"' in version_2 and '"pipeline":"growth.aggregate"' in version_2
    decoded = decode_batch(version_2, rules)
    assert decoded.events == items and decoded.unreadable == []
    assert len(encode_batch(items)) < len(version_2) * 0.7


# what a task carried -> why it is kept unread
@pytest.mark.parametrize(
    ("argument", "why"),
    [
        ('{"v": 4, "events": []}', "batch version 4: this worker reads 1 to 3"),
        ("not json", "not a batch"),
        ('{"v": 2, "events": [{"event_id": "e"}]}', "not a batch"),
        (  # a naive time: the queue carries UTC instants only
            '{"v": 2, "events": [{"event_id": "e", "received_at": "2026-11-24T10:00:00",'
            ' "event": {}}]}',
            "not a batch",
        ),
    ],
)
def test_a_task_that_cannot_be_read_is_kept_as_it_came(
    rules: Rules, argument: str, why: str
) -> None:
    decoded = decode_batch(argument, rules)
    assert decoded.events == []
    (kept,) = decoded.unreadable
    assert kept.raw == argument and kept.error.startswith(why)


def test_a_batch_queued_before_the_upgrade_is_read_item_by_item(rules: Rules) -> None:
    """Version 1: each event as sent. A naive time is the pipeline's (or, for a pipeline
    the rules no longer have, the team's) local time; an item that does not validate is
    kept, and the others still fold."""
    argument: list[dict[str, object]] = [
        {"event_id": "good", "received_at": "2026-11-24T18:00:00Z",
         "event": {"pipeline": "growth.aggregate", "type": "slow_query",
                   "occurred_at": "2026-11-24T09:00"}},
        {"event_id": "bad", "received_at": "2026-11-24T18:00:00Z", "event": {"type": "x"}},
        {"event_id": "retired", "received_at": "2026-11-24T18:00:00Z",
         "event": {"pipeline": "retired.pipeline", "type": "slow_query",
                   "occurred_at": "2026-11-24T09:00"}},
    ]  # fmt: skip
    decoded = decode_batch(argument, rules)
    assert [item.event_id for item in decoded.events] == ["good", "retired"]
    assert [item.event.occurred_at for item in decoded.events] == [
        datetime(2026, 11, 24, 17, tzinfo=UTC)
    ] * 2
    (kept,) = decoded.unreadable
    assert '"event_id":"bad"' in kept.raw and "pipeline" in kept.error


def test_the_batch_names_its_version() -> None:
    assert encode_batch([]) == '{"v":3,"events":[]}'
