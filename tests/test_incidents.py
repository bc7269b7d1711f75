"""The incident fold: dedup, acknowledge, resolve, and data_ready closing data incidents."""

from __future__ import annotations

from typing import Any

import pytest

from router.core.decide import Decision
from router.core.events import parse_event
from router.core.incidents import Incident, apply_event, keep_open, retrigger
from router.core.rules import Rules
from tests.support import pacific

NOW = pacific("2026-11-24 10:00")


def _run(rules: Rules, *events: dict[str, Any]) -> tuple[dict[str, Incident], list[Decision]]:
    book: dict[str, Incident] = {}
    decisions: list[Decision] = []
    for data in events:
        outcome = apply_event(
            book, parse_event(data, rules, NOW), rules, NOW, new_id=f"i{len(decisions)}"
        )
        keep_open(book, outcome)
        decisions.append(outcome.decision)
    return book, decisions


AGG = {"pipeline": "profit.aggregate", "type": "aggregation_error"}


def test_triggers_with_an_open_key_fold_into_one_incident(rules: Rules) -> None:
    book, decisions = _run(rules, AGG, AGG, {**AGG, "severity": "P1"})
    assert [d.decision for d in decisions] == ["page", "none", "none"]
    assert book["profit.aggregate/aggregation_error"].events == 3
    assert "Folded into the triggered incident" in decisions[2].reason
    # The folded event reports the incident's severity, not its own.
    assert decisions[2].severity == "P2"


def test_after_resolve_the_same_key_opens_a_new_incident(rules: Rules) -> None:
    book, decisions = _run(rules, AGG, {**AGG, "action": "resolve"}, AGG)
    assert [d.decision for d in decisions] == ["page", "none", "page"]
    assert book["profit.aggregate/aggregation_error"].events == 1


def test_acknowledged_incidents_still_fold(rules: Rules) -> None:
    book, decisions = _run(
        rules, AGG, {**AGG, "action": "acknowledge"}, AGG, {**AGG, "action": "acknowledge"}
    )
    assert [d.decision for d in decisions] == ["page", "none", "none", "none"]
    assert book["profit.aggregate/aggregation_error"].status == "acknowledged"
    assert "Folded into the acknowledged incident" in decisions[2].reason
    assert "already acknowledged" in decisions[3].reason


def test_acknowledge_or_resolve_of_an_unknown_key_is_dropped(rules: Rules) -> None:
    book, decisions = _run(
        rules, {**AGG, "action": "resolve"}, {**AGG, "action": "acknowledge", "dedup_key": "nope"}
    )
    assert book == {}
    assert all("is dropped" in d.reason for d in decisions)


def test_explicit_dedup_keys_keep_incidents_apart(rules: Rules) -> None:
    book, decisions = _run(rules, {**AGG, "dedup_key": "a"}, {**AGG, "dedup_key": "b"})
    assert [d.decision for d in decisions] == ["page", "page"]
    assert sorted(book) == ["a", "b"]


def test_data_ready_resolves_that_pipelines_missing_and_late_data(rules: Rules) -> None:
    book, decisions = _run(
        rules,
        {"pipeline": "profit.unit", "type": "data_missing"},
        {"pipeline": "profit.unit", "type": "data_late", "dedup_key": "unit-late-2026-11-23"},
        {"pipeline": "profit.unit", "type": "job_failed"},
        {"pipeline": "growth.daily", "type": "data_missing"},
        {"pipeline": "profit.unit", "type": "data_ready"},
    )
    assert decisions[-1].decision == "none"
    assert "resolves profit.unit/data_missing, unit-late-2026-11-23" in decisions[-1].reason
    assert sorted(book) == ["growth.daily/data_missing", "profit.unit/job_failed"]


def test_report_ready_opens_no_incident(rules: Rules) -> None:
    report = {"pipeline": "engagement.aggregate", "type": "report_ready"}
    book, decisions = _run(rules, report, report)
    assert [d.decision for d in decisions] == ["notify", "notify"]
    assert book == {}


def test_a_p4_is_recorded_as_an_incident_without_a_page(rules: Rules) -> None:
    quiet = {**AGG, "severity": "P4"}
    book, decisions = _run(rules, quiet, quiet)
    assert [d.decision for d in decisions] == ["none", "none"]
    assert book["profit.aggregate/aggregation_error"].events == 2


# (event, acknowledged at, Pacific; timeout fires at; decision; first page at) — the
# shipped timeouts: P1 1 h, P2 4 h
# fmt: off
RETRIGGERS = [
    # a P2 in business hours: pages again at once
    ({"type": "permission_denied", "pipeline": "growth.aggregate"}, "2026-11-24 10:00", "2026-11-24 14:00", "page", "2026-11-24 14:00"),
    # a P2 whose timeout falls in the night waits for 09:00
    ({"type": "permission_denied", "pipeline": "growth.aggregate"}, "2026-11-24 17:00", "2026-11-24 21:00", "defer", "2026-11-25 09:00"),
    # a P1 may page off-hours: at once, at midnight
    ({"type": "job_failed", "pipeline": "growth.aggregate", "severity": "P1"}, "2026-11-24 23:00", "2026-11-25 00:00", "page", "2026-11-25 00:00"),
    # daily data pages at any hour too
    ({"type": "data_missing", "pipeline": "growth.daily"}, "2026-11-24 17:00", "2026-11-24 21:00", "page", "2026-11-24 21:00"),
]
# fmt: on


@pytest.mark.parametrize(("event", "acked", "fires", "decision", "first_page"), RETRIGGERS)
def test_an_acknowledgement_timeout_starts_the_escalation_again(
    rules: Rules, event: dict[str, Any], acked: str, fires: str, decision: str, first_page: str
) -> None:
    opened, _ = _run(rules, event)
    ack = parse_event({**event, "action": "acknowledge"}, rules, pacific(acked))
    acknowledged = apply_event(opened, ack, rules, pacific(acked), "x").changed[0]
    assert acknowledged.ack_expires_at == pacific(fires)
    found = retrigger(acknowledged, rules, pacific(fires))
    assert found is not None
    again, made = found
    assert (again.status, again.cycle, again.acknowledged_by) == ("triggered", 1, None)
    assert (made.decision, again.deliver_at) == (decision, pacific(first_page))
    assert again.escalation and again.ack_expires_at is None


def test_a_p3_never_times_out(rules: Rules) -> None:
    event = {"type": "slow_query", "pipeline": "growth.aggregate"}
    opened, _ = _run(rules, event)
    ack = parse_event({**event, "action": "acknowledge"}, rules, pacific("2026-11-24 10:00"))
    acknowledged = apply_event(opened, ack, rules, pacific("2026-11-24 10:00"), "x").changed[0]
    assert acknowledged.ack_expires_at is None
