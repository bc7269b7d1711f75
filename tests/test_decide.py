"""decide(event, rules, now) over the seed's policy, with fixed clocks (Pacific wall time)."""

from __future__ import annotations

import pytest

from router.core.decide import decide
from router.core.events import parse_event
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"

# (now, pipeline, type, explicit severity) -> (decision, severity, deliver_at, first round)
# fmt: off
CASES = [
    # Weekday business hours (Tue 24 Nov; Biswa Kalyan Rath on call): owners first.
    ("2026-11-24 10:00", "profit.aggregate", "aggregation_error", None,
     "page", "P2", "2026-11-24T18:00:00Z", [[K], [A], [B], [D]]),
    ("2026-11-24 10:00", "growth.aggregate", "slow_query", None,
     "page", "P3", "2026-11-24T18:00:00Z", [[B], [D], [K, A]]),
    ("2026-11-24 17:59", "growth.daily", "data_missing", None,
     "page", "P2", "2026-11-25T01:59:00Z", [[B], [K, A, D]]),
    ("2026-11-24 10:00", "growth.aggregate", "chart_broken", "P4", "none", "P4", None, []),
    ("2026-11-24 10:00", "profit.unit", "data_ready", None, "none", "P4", None, []),
    ("2026-11-24 10:00", "growth.daily", "disk_full", None,
     "page", "P3", "2026-11-24T18:00:00Z", [[B], [K, A, D]]),
    # Weekday night: P2 waits for the morning (owners first then), P1 and daily data page now.
    ("2026-11-24 22:00", "profit.aggregate", "aggregation_error", None,
     "defer", "P2", "2026-11-25T17:00:00Z", [[K], [A], [D], [B]]),
    ("2026-11-24 22:00", "profit.aggregate", "aggregation_error", "P1",
     "page", "P1", "2026-11-25T06:00:00Z", [[B], [K], [A], [D]]),
    ("2026-11-24 22:00", "profit.unit", "data_late", None,
     "page", "P2", "2026-11-25T06:00:00Z", [[B], [K, A, D]]),
    ("2026-11-25 08:59", "engagement.aggregate", "dedup_error", None,
     "defer", "P3", "2026-11-25T17:00:00Z", [[K], [B], [D], [A]]),
    # Saturday (Thanksgiving period: Kshama Kumar on call; Aruna Sharma away 28-30 Nov).
    ("2026-11-28 03:00", "growth.aggregate", "slow_query", None,
     "defer", "P3", "2026-11-30T17:00:00Z", [[B], [D], [K]]),
    ("2026-11-28 03:00", "growth.daily", "data_missing", None,
     "page", "P2", "2026-11-28T11:00:00Z", [[K], [B, D]]),
    ("2026-11-28 03:00", "profit.unit", "job_failed", None,
     "page", "P2", "2026-11-28T11:00:00Z", [[K], [B, D]]),
    ("2026-11-28 03:00", "growth.aggregate", "job_failed", None,
     "defer", "P2", "2026-11-30T17:00:00Z", [[B], [D], [K]]),
    ("2026-11-28 03:00", "growth.aggregate", "slow_query", "P4", "none", "P4", None, []),
    # Thanksgiving Day, 11:00 (a holiday: quiet all day; Disha Kapoor on call).
    ("2026-11-26 11:00", "engagement.aggregate", "dedup_error", None,
     "defer", "P3", "2026-11-30T17:00:00Z", [[K], [B], [D]]),
    ("2026-11-26 11:00", "growth.aggregate", "permission_denied", "P1",
     "page", "P1", "2026-11-26T19:00:00Z", [[D], [B], [K, A]]),
    ("2026-11-26 11:00", "profit.unit", "data_missing", None,
     "page", "P2", "2026-11-26T19:00:00Z", [[D], [K, A, B]]),
    # Autumn DST night (01:30 PDT, the first of two): the page waits for Monday 09:00 PST,
    # when Disha Kapoor's shift has just started.
    ("2026-11-01 01:30", "growth.aggregate", "slow_query", None,
     "defer", "P3", "2026-11-02T17:00:00Z", [[B], [D], [K, A]]),
    # Spring DST: Monday 08:30 PDT waits for 09:00 PDT, which is 16:00Z (not 17:00Z).
    ("2027-03-15 08:30", "growth.aggregate", "permission_denied", None,
     "defer", "P2", "2027-03-15T16:00:00Z", [[B], [D], [K, A]]),
]
# fmt: on


@pytest.mark.parametrize(
    (
        "now",
        "pipeline",
        "event_type",
        "severity",
        "kind",
        "expected_severity",
        "deliver_at",
        "first_round",
    ),
    CASES,
)
def test_decide(
    rules: Rules,
    now: str,
    pipeline: str,
    event_type: str,
    severity: str | None,
    kind: str,
    expected_severity: str,
    deliver_at: str | None,
    first_round: list[list[str]],
) -> None:
    moment = pacific(now)
    data = {"pipeline": pipeline, "type": event_type}
    if severity:
        data["severity"] = severity
    decision = decide(parse_event(data, rules, moment), rules, moment)
    assert decision.decision == kind, decision.reason
    assert decision.severity == expected_severity
    assert (iso_z(decision.deliver_at) if decision.deliver_at else None) == deliver_at
    assert [step.notify for step in decision.escalation if step.round == 0] == first_round
    assert decision.reason.endswith(".") and event_type in decision.reason


@pytest.mark.parametrize(
    "now", ["2026-11-24 03:00", "2026-11-24 10:00", "2026-11-26 11:00", "2026-11-28 23:30"]
)
def test_report_ready_emails_the_analysts_at_any_hour(rules: Rules, now: str) -> None:
    moment = pacific(now)
    event = parse_event({"pipeline": "engagement.aggregate", "type": "report_ready"}, rules, moment)
    decision = decide(event, rules, moment)
    assert decision.decision == "notify"
    assert decision.recipients == ["analyst@example.com"]
    assert decision.deliver_at == moment and decision.escalation == []


def test_the_seed_policy_in_reasons(rules: Rules) -> None:
    night = pacific("2026-11-24 22:00")
    event = parse_event({"pipeline": "growth.aggregate", "type": "slow_query"}, rules, night)
    reason = decide(event, rules, night).reason
    assert "night (after business hours)" in reason and "Wed 2026-11-25 09:00 PST" in reason
    daily = parse_event({"pipeline": "profit.unit", "type": "data_late"}, rules, night)
    assert "its category is daily_data" in decide(daily, rules, night).reason


def test_decision_json_has_the_contract_keys(rules: Rules) -> None:
    now = pacific("2026-11-24 10:00")
    event = parse_event({"pipeline": "profit.aggregate", "type": "aggregation_error"}, rules, now)
    line = decide(event, rules, now).to_json()
    assert list(line) == [
        "pipeline",
        "type",
        "dedup_key",
        "occurred_at",
        "severity",
        "category",
        "decision",
        "deliver_at",
        "escalation",
        "recipients",
        "reason",
    ]
    assert line["escalation"][:2] == [
        {"after_minutes": 0, "notify": [K]},
        {"after_minutes": 15, "notify": [A]},
    ]
    assert line["occurred_at"] == line["deliver_at"] == "2026-11-24T18:00:00Z"


def test_naive_now_is_refused(rules: Rules) -> None:
    now = pacific("2026-11-24 10:00")
    event = parse_event({"pipeline": "profit.unit", "type": "data_late"}, rules, now)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(event, rules, now.replace(tzinfo=None))
