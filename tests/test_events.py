from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.core.events import EventInvalid, parse_event
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import edited_rules, pacific

NOW = pacific("2026-11-24 10:00")


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        (None, "2026-11-24T18:00:00Z"),  # missing: the moment it is received
        ("2026-11-24T09:15:00Z", "2026-11-24T09:15:00Z"),
        ("2026-11-24T09:15:00+01:00", "2026-11-24T08:15:00Z"),
        ("2026-11-24T09:15:00", "2026-11-24T17:15:00Z"),  # naive: Pacific (PST)
        ("2026-07-24T09:15:00", "2026-07-24T16:15:00Z"),  # naive: Pacific (PDT)
    ],
)
def test_occurred_at(rules: Rules, occurred_at: str | None, expected: str) -> None:
    data: dict[str, Any] = {"pipeline": "engagement.aggregate", "type": "timestamp_skew"}
    if occurred_at:
        data["occurred_at"] = occurred_at
    assert iso_z(parse_event(data, rules, NOW).occurred_at) == expected


def test_naive_time_uses_the_pipelines_source_zone(tmp_path: Path) -> None:
    def client_in_kolkata(data: dict[str, Any]) -> None:
        data["pipelines"][4]["source_timezone"] = "Asia/Kolkata"

    rules = edited_rules(tmp_path, pipelines=client_in_kolkata)
    event = parse_event(
        {
            "pipeline": "engagement.aggregate",
            "type": "timestamp_skew",
            "occurred_at": "2026-11-24T09:15:00",
        },
        rules,
        NOW,
    )
    assert iso_z(event.occurred_at) == "2026-11-24T03:45:00Z"
    other = parse_event(
        {"pipeline": "profit.unit", "type": "data_late", "occurred_at": "2026-11-24T09:15:00"},
        rules,
        NOW,
    )
    assert iso_z(other.occurred_at) == "2026-11-24T17:15:00Z"


def test_defaults(rules: Rules) -> None:
    event = parse_event({"pipeline": "profit.unit", "type": "data_missing"}, rules, NOW)
    assert event.dedup_key == "profit.unit/data_missing"
    assert event.action == "trigger" and event.severity is None and event.summary == ""
    keyed = parse_event(
        {"pipeline": "profit.unit", "type": "data_missing", "dedup_key": "unit-2026-11-23"},
        rules,
        NOW,
    )
    assert keyed.dedup_key == "unit-2026-11-23"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "data_missing"}, "pipeline: Field required"),
        ({"pipeline": "profit.unit"}, "type: Field required"),
        ({"pipeline": "profit.total", "type": "x"}, "pipeline: unknown pipeline 'profit.total'"),
        ({"pipeline": "profit.unit", "type": "x", "severity": "critical"}, "severity: Input"),
        ({"pipeline": "profit.unit", "type": "x", "action": "snooze"}, "action: Input"),
        ({"pipeline": "profit.unit", "type": "x", "occurred_at": "yesterday"}, "occurred_at:"),
        ({"pipeline": "profit.unit", "type": "x", "colour": "red"}, "colour: unknown field"),
        ({"pipeline": "profit.unit", "type": "x", "details": []}, "details: Input"),
        ({"pipeline": "profit.unit", "type": "x", "links": [{"text": "a"}]}, "links.0.href:"),
        (["not", "an", "object"], "event: must be a JSON object"),
    ],
)
def test_bad_events_name_the_field(rules: Rules, data: Any, message: str) -> None:
    with pytest.raises(EventInvalid) as caught:
        parse_event(data, rules, NOW)
    assert str(caught.value).startswith(message), str(caught.value)
