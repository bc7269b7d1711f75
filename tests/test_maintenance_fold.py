"""What a maintenance window does, decided by the pure core without Redis, with fixed
clocks: decide() suppresses, the fold's plan puts the decision off to the window's end,
a step due in a window holds the escalation (plan_hold), and the window's end decides
again or resumes it (plan_unmute). The end-to-end flow is in tests/test_maintenance_flow.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from router.config.load import load_rules
from router.core.deadlines import past_deadlines
from router.core.decide import decide
from router.core.events import EventIn, parse_event, to_event
from router.core.fold import (
    Arrival,
    DecisionEntry,
    Due,
    MaintenanceEntry,
    MutedMarker,
    Plan,
    plan_action,
    plan_fold,
    plan_hold,
    plan_retrigger,
    plan_unmute,
)
from router.core.incidents import Incident
from router.core.maintenance import Muted, Weekly, Window, muting, one_off
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import RULES_DIR, pacific

# Saturday 12 December 2026: the warehouse is down 02:00-06:00 for growth.aggregate.
START, END = pacific("2026-12-12 02:00"), pacific("2026-12-12 06:00")
MONDAY_9 = pacific("2026-12-14 09:00")


@pytest.fixture(scope="module")
def base() -> Rules:
    return load_rules(RULES_DIR)


def _with(rules: Rules, *windows: Window) -> Rules:
    return rules.model_copy(update={"maintenance": windows})


def _window(**given: object) -> Window:
    fields: dict[str, object] = {"pipelines": ["growth.aggregate"], **given}
    return one_off("mw-1", "warehouse upgrade", START, END, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rules(base: Rules) -> Rules:
    return _with(base, _window())


def _decided(rules: Rules, at: str, **event: str) -> tuple[str, str | None, str]:
    moment = pacific(at)
    data = {"pipeline": "growth.aggregate", "type": "job_failed", **event}
    decision = decide(parse_event(data, rules, moment), rules, moment)
    deliver_at = iso_z(decision.deliver_at) if decision.deliver_at else None
    return decision.decision, deliver_at, decision.reason


# (when, event) -> (decision, deliver_at)
# fmt: off
DECISIONS = [
    # a P2 in the window pages nobody until its end (06:00 PST is 14:00Z)
    ("2026-12-12 03:00", {}, "suppressed", "2026-12-12T14:00:00Z"),
    # the window is [start, end): at 02:00 it holds, at 06:00 it is over (off-hours: Monday)
    ("2026-12-12 02:00", {}, "suppressed", "2026-12-12T14:00:00Z"),
    ("2026-12-12 06:00", {}, "defer", "2026-12-14T17:00:00Z"),
    ("2026-12-12 01:59", {}, "defer", "2026-12-14T17:00:00Z"),
    # a P1 pages anyway (page_p1 is true by default)
    ("2026-12-12 03:00", {"severity": "P1"}, "page", "2026-12-12T11:00:00Z"),
    # other pipelines are not under it
    ("2026-12-12 03:00", {"pipeline": "growth.daily", "type": "data_missing"},
     "page", "2026-12-12T11:00:00Z"),
    # a P4 is recorded, never paged, window or not
    ("2026-12-12 03:00", {"severity": "P4"}, "none", None),
    # report_ready still goes to the analysts
    ("2026-12-12 03:00", {"type": "report_ready"}, "notify", "2026-12-12T11:00:00Z"),
]
# fmt: on


@pytest.mark.parametrize(("at", "event", "kind", "deliver_at"), DECISIONS)
def test_a_window_suppresses_what_would_page_or_wait(
    rules: Rules, at: str, event: dict[str, str], kind: str, deliver_at: str | None
) -> None:
    decided, delivered, reason = _decided(rules, at, **event)
    assert (decided, delivered) == (kind, deliver_at), reason
    if kind == "suppressed":
        assert "maintenance window mw-1 (one-off): warehouse upgrade" in reason
        assert "until Sat 2026-12-12 06:00 PST" in reason


@pytest.mark.parametrize(
    ("window", "event", "kind"),
    [
        (_window(page_p1=False), {"severity": "P1"}, "suppressed"),
        (_window(types=["slow_query"]), {}, "page"),  # job_failed is not among its types
        (_window(types=["job_failed"]), {}, "suppressed"),
        (
            _window(pipelines=None),
            {"pipeline": "profit.unit", "type": "data_missing"},
            "suppressed",
        ),
    ],
)
def test_what_a_window_covers(
    base: Rules, window: Window, event: dict[str, str], kind: str
) -> None:
    # at 03:00 growth.aggregate's job_failed would defer, and profit.unit's data page
    severity = {"severity": "P1"} if kind == "page" else {}
    decided, _, reason = _decided(_with(base, window), "2026-12-12 03:00", **{**severity, **event})
    assert decided == kind, reason


def test_a_weekly_window_of_the_rules_suppresses_like_a_one_off(base: Rules) -> None:
    weekly = Window("rules-1", "warehouse maintenance", weekly=Weekly.parse("Sat 02:00-06:00"))
    routing = base.routing.model_copy(update={"maintenance": []})
    rules = base.model_copy(update={"routing": routing, "maintenance": (weekly,)})
    decided, deliver_at, reason = _decided(rules, "2026-12-19 03:00")
    assert (decided, deliver_at) == ("suppressed", "2026-12-19T14:00:00Z"), reason
    assert "rules-1 (weekly Sat 02:00-06:00): warehouse maintenance" in reason


def _open(rules: Rules, at: datetime, **event: str) -> tuple[Incident, Plan]:
    data = {"pipeline": "growth.aggregate", "type": "job_failed", "dedup_key": "k1", **event}
    arrival = Arrival(to_event(EventIn.model_validate(data), rules, at), "evt-1", "inc-1", at)
    plan = plan_fold([arrival], {}, set(), {}, rules, at)
    (incident,) = plan.incidents.values()
    return incident, plan


def test_a_suppressed_incident_opens_pages_nobody_and_is_decided_again_at_the_end(
    rules: Rules,
) -> None:
    incident, plan = _open(rules, pacific("2026-12-12 03:00"))
    assert incident.status == "triggered" and incident.decision == "suppressed"
    assert incident.escalation == [] and incident.deliver_at == END
    assert plan.timers == [Due("unmute", "inc-1", at=END)]
    assert plan.chats == []
    assert plan.muted == [MutedMarker("mw-1", START, "inc-1")]
    (decided,) = [e for e in plan.timeline["inc-1"] if isinstance(e, DecisionEntry)]
    assert decided.decision == "suppressed" and "warehouse upgrade" in decided.reason

    # at 06:00 it is decided again: off-hours, so it waits for Monday 09:00
    after = plan_unmute(incident, rules, END)
    assert after is not None
    again = after.incidents["inc-1"]
    assert again.decision == "defer" and again.deliver_at == MONDAY_9
    steps = [due for due in after.timers if due.kind == "step"]
    assert steps[0] == Due("step", "inc-1", 0, 0, MONDAY_9)
    assert len(steps) == len(again.escalation)
    (entry,) = after.timeline["inc-1"]
    assert isinstance(entry, DecisionEntry) and entry.decision == "defer"

    # the timer early (the window still on): again at its end, nothing else changes
    early = plan_unmute(incident, rules, pacific("2026-12-12 05:00"))
    assert early is not None and early.incidents == {}
    assert early.timers == [Due("unmute", "inc-1", at=END)]


def test_the_end_decides_again_with_the_policy_of_that_moment(base: Rules) -> None:
    """A window ending in business hours: the suppressed P2 pages then."""
    window = one_off(
        "mw-2", "backfill", pacific("2026-12-14 07:00"), pacific("2026-12-14 10:00"),
        ["growth.aggregate"],
    )  # fmt: skip
    rules = _with(base, window)
    incident, _ = _open(rules, pacific("2026-12-14 08:00"))
    assert incident.decision == "suppressed"
    after = plan_unmute(incident, rules, pacific("2026-12-14 10:00"))
    assert after is not None
    assert after.incidents["inc-1"].decision == "page"
    assert Due("step", "inc-1", 0, 0, None) in after.timers  # the first page at once
    assert [chat.change for chat in after.chats] == (["triggered"] if rules.team.chat else [])


def test_acknowledged_or_resolved_in_the_window_nothing_is_decided_again(rules: Rules) -> None:
    incident, _ = _open(rules, pacific("2026-12-12 03:00"))
    for action in ("acknowledge", "resolve"):
        acted = plan_action(incident, action, "Kshama Kumar", "act-1", rules, END)
        assert acted is not None
        assert plan_unmute(acted.incidents["inc-1"], rules, END) is None


def _paged_at_0150(rules: Rules) -> Incident:
    """A daily-data P2 that pages at night, 01:50, under a window over all pipelines."""
    incident, _ = _open(
        rules, pacific("2026-12-12 01:50"), pipeline="growth.daily", type="data_missing"
    )
    assert incident.decision == "page"
    return incident


def test_a_step_due_in_a_window_holds_the_escalation_until_its_end(base: Rules) -> None:
    rules = _with(base, _window(pipelines=None))
    incident = _paged_at_0150(rules)
    assert incident.deliver_at is not None
    step_due = incident.deliver_at + timedelta(seconds=incident.escalation[1].after_s)
    assert step_due == pacific("2026-12-12 02:05")
    muted = muting(
        rules.maintenance_windows(), incident.pipeline, incident.type, incident.severity,
        step_due, rules.team.zone,
    )  # fmt: skip
    assert muted == Muted(rules.maintenance[0], START, END)

    held = plan_hold(incident, muted, step_due, step_due)
    assert held is not None
    now_held = held.incidents[incident.id]
    assert now_held.held_at == step_due
    assert held.timers == [Due("unmute", incident.id, at=END)]
    (entry,) = held.timeline[incident.id]
    assert isinstance(entry, MaintenanceEntry) and entry.window == "mw-1"
    assert plan_hold(now_held, muted, step_due + timedelta(minutes=15), step_due) is None

    # 06:00: it resumes from the step it had reached, the later ones as far apart
    resumed = plan_unmute(now_held, rules, END)
    assert resumed is not None
    after = resumed.incidents[incident.id]
    assert after.held_at is None
    assert after.deliver_at == incident.deliver_at + (END - step_due)
    steps = [due for due in resumed.timers if due.kind == "step"]
    assert [(due.round, due.step) for due in steps] == [
        (step.round, step.step) for step in incident.escalation[1:]
    ]
    assert [due.at for due in steps] == [
        None if n == 1 else END + timedelta(seconds=step.after_s - 900)
        for n, step in enumerate(incident.escalation[1:], start=1)
    ]


def test_a_held_escalation_under_another_window_waits_for_that_one(base: Rules) -> None:
    longer = one_off("mw-9", "migration", START, pacific("2026-12-12 08:00"))
    rules = _with(base, _window(pipelines=None), longer)
    incident = _paged_at_0150(rules)
    step_due = pacific("2026-12-12 02:05")
    muted = muting(
        rules.maintenance_windows(), incident.pipeline, incident.type, incident.severity,
        step_due, rules.team.zone,
    )  # fmt: skip
    assert muted is not None and muted.window.id == "mw-9"  # the one that ends last
    held = plan_hold(incident, muted, step_due, step_due)
    assert held is not None
    waiting = plan_unmute(held.incidents[incident.id], rules, END)
    assert waiting is not None and waiting.incidents == {}
    assert waiting.timers == [Due("unmute", incident.id, at=pacific("2026-12-12 08:00"))]


def test_an_acknowledgement_timing_out_in_a_window_is_suppressed(rules: Rules) -> None:
    incident, _ = _open(rules, pacific("2026-12-11 22:00"), severity="P1")
    acked = plan_action(incident, "acknowledge", "Kshama Kumar", "a", rules, incident.opened_at)
    assert acked is not None
    current = acked.incidents[incident.id]
    # P1 pages anyway through a page_p1 window: make this one mute P1s too
    strict = _with(rules, _window(page_p1=False))
    again = plan_retrigger(current, strict, pacific("2026-12-12 03:00"))
    assert again is not None
    assert again.incidents[incident.id].decision == "suppressed"
    assert Due("unmute", incident.id, at=END) in again.timers
    assert not [due for due in again.timers if due.kind == "step"]


def _late(rules: Rules, at: str) -> list[tuple[str, str]]:
    return [(due.pipeline, str(due.day)) for due in past_deadlines(rules, pacific(at))]


@pytest.mark.parametrize(
    ("start", "end", "at", "raised"),
    [
        # no window: raised from 19:00 on
        (None, None, "2026-12-10 19:00", [("profit.unit", "2026-12-10")]),
        (None, None, "2026-12-10 18:59", []),
        # a window over 19:00: nothing during it, raised when it ends
        ("2026-12-10 18:00", "2026-12-10 21:00", "2026-12-10 20:59", []),
        (
            "2026-12-10 18:00",
            "2026-12-10 21:00",
            "2026-12-10 21:00",
            [("profit.unit", "2026-12-10")],
        ),
        # a window past midnight: yesterday's deadline raised when it ends, then only today's
        ("2026-12-10 18:00", "2026-12-11 01:00", "2026-12-11 00:30", []),
        (
            "2026-12-10 18:00",
            "2026-12-11 01:00",
            "2026-12-11 01:00",
            [("profit.unit", "2026-12-10")],
        ),
        (
            "2026-12-10 18:00",
            "2026-12-11 01:00",
            "2026-12-11 19:00",
            [("profit.unit", "2026-12-10"), ("profit.unit", "2026-12-11")],
        ),
        # yesterday's deadline, not held by a window, stays yesterday's business
        (None, None, "2026-12-11 01:00", []),
        # a window of days: each day's deadline it held is raised at its end, for a day
        ("2026-12-08 12:00", "2026-12-10 12:00", "2026-12-10 11:59", []),
        (
            "2026-12-08 12:00",
            "2026-12-10 12:00",
            "2026-12-10 12:00",
            [("profit.unit", "2026-12-08"), ("profit.unit", "2026-12-09")],
        ),
        (
            "2026-12-08 12:00",
            "2026-12-10 12:00",
            "2026-12-10 19:00",
            [
                ("profit.unit", "2026-12-08"),
                ("profit.unit", "2026-12-09"),
                ("profit.unit", "2026-12-10"),
            ],
        ),
        ("2026-12-08 12:00", "2026-12-10 12:00", "2026-12-11 12:00", []),
        # a window that ended before 19:00 changes nothing
        (
            "2026-12-10 09:00",
            "2026-12-10 12:00",
            "2026-12-10 19:00",
            [("profit.unit", "2026-12-10")],
        ),
    ],
)
def test_a_deadline_under_a_window_is_raised_when_it_ends(
    base: Rules, start: str | None, end: str | None, at: str, raised: list[tuple[str, str]]
) -> None:
    rules = base
    if start is not None and end is not None:
        window = one_off("mw-3", "backfill", pacific(start), pacific(end), ["profit.unit"])
        rules = _with(base, window)
    assert _late(rules, at) == raised


def test_a_window_over_other_types_leaves_the_deadline_alone(base: Rules) -> None:
    window = one_off(
        "mw-4", "rerun", pacific("2026-12-10 18:00"), pacific("2026-12-10 21:00"),
        ["profit.unit"], ["job_failed"],
    )  # fmt: skip
    assert _late(_with(base, window), "2026-12-10 19:30") == [("profit.unit", "2026-12-10")]
