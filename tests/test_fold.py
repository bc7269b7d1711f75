"""The fold's plan (router.core.fold) with fixed clocks, without Redis: what a batch of events
or an action on one incident causes, as data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from router.core.events import EventIn, to_event
from router.core.fold import (
    AckTimeoutEntry,
    Arrival,
    AuditLine,
    Chat,
    DecisionEntry,
    Due,
    Estimate,
    EventEntry,
    Plan,
    ReadyMarker,
    ReportDelayed,
    ReportReady,
    SnoozeEntry,
    fold_groups,
    plan_action,
    plan_fold,
    plan_retrigger,
    plan_snooze,
)
from router.core.incidents import Incident
from router.core.rules import Rules
from tests.support import RULES_DIR, edited_rules, pacific

TUESDAY = pacific("2026-11-24 10:00")  # business hours
NIGHT = pacific("2026-11-24 22:00")


Sent = Mapping[str, object]


def _arrivals(sent: list[Sent], rules: Rules, now: datetime) -> list[Arrival]:
    """Event ids `evt-{dedup key}`, then `evt-{dedup key}-{n}` for the n-th again."""
    arrivals, ids = [], set()
    for n, item in enumerate(sent):
        event = to_event(EventIn.model_validate(item), rules, now)
        event_id = f"evt-{event.dedup_key}"
        event_id = f"{event_id}-{n}" if event_id in ids else event_id
        ids.add(event_id)
        arrivals.append(Arrival(event, event_id, f"inc-{n}-{event.type}", now))
    return arrivals


def _plan(
    rules: Rules,
    sent: list[Sent],
    now: datetime = TUESDAY,
    open_: list[Incident] = (),  # type: ignore[assignment]
    seen: set[str] = frozenset(),  # type: ignore[assignment]
    estimates: Mapping[str, Estimate] = {},
) -> Plan:
    books: dict[str, dict[str, Incident]] = {}
    for incident in open_:
        books.setdefault(incident.pipeline, {})[incident.dedup_key] = incident
    return plan_fold(_arrivals(sent, rules, now), books, set(seen), estimates, rules, now)


@pytest.fixture(scope="module")
def rules() -> Rules:
    from router.config.load import load_rules

    return load_rules(RULES_DIR)


def _opened(rules: Rules, sent: Sent, now: datetime = TUESDAY) -> Incident:
    (incident,) = _plan(rules, [sent], now).incidents.values()
    return incident


P2 = {"pipeline": "profit.aggregate", "type": "aggregation_error", "dedup_key": "agg"}
MISSING = {"pipeline": "profit.unit", "type": "data_missing", "dedup_key": "missing"}
READY = {"pipeline": "profit.unit", "type": "data_ready", "dedup_key": "ready"}
REPORT = {"pipeline": "profit.aggregate", "type": "report_ready", "dedup_key": "report"}


def test_a_trigger_opens_an_incident_with_its_timeline_and_steps(rules: Rules) -> None:
    plan = _plan(rules, [P2])
    (incident,) = plan.incidents.values()
    assert incident.status == "triggered" and incident.decision == "page"
    at = "2026-11-24T18:00:00Z"
    assert plan.timeline[incident.id] == [
        EventEntry(at, "evt-agg", "trigger", "aggregation_error", "", None),
        DecisionEntry(at, "page", plan.outcomes[0].decision.reason),  # type: ignore[union-attr]
    ]
    steps = [d for d in plan.timers if d.kind == "step"]
    first, *later = steps
    assert first == Due("step", incident.id, 0, 0, None)  # at once, from the transaction
    assert [d.at for d in later] == [
        TUESDAY + timedelta(seconds=s.after_s) for s in incident.escalation[1:]
    ]
    assert [a.event_id for a in plan.seen] == [
        "evt-agg"
    ] and plan.chats == []  # the shipped team has no chat
    assert plan.counted == {("unknown", "profit.aggregate", "P2", "page"): 1}


# (what is open, the events) -> (incidents' states and events, timer kinds, entry kinds)
# fmt: off
CASES = [
    ("a second trigger folds into it", [P2], [P2, {**P2, "summary": "again"}],
     {"agg": ("triggered", 3)}, [], ["event", "event"]),
    ("acknowledge: the ack timeout is set", [P2], [{**P2, "action": "acknowledge"}],
     {"agg": ("acknowledged", 1)}, ["ack_timeout"], ["event", "decision"]),
    ("resolve: everyone paged is told", [P2], [{**P2, "action": "resolve"}],
     {"agg": ("resolved", 1)}, ["resolved"], ["event", "decision"]),
    ("an acknowledge of nothing open is dropped", [], [{**P2, "action": "acknowledge"}],
     {}, [], []),
    ("data_ready resolves what it names", [MISSING], [READY],
     {"missing": ("resolved", 1)}, ["resolved"], ["event", "decision"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("said", "open_sent", "sent", "states", "timers", "entries"), CASES, ids=[c[0] for c in CASES]
)
def test_what_each_event_changes(
    rules: Rules,
    said: str,
    open_sent: list[Sent],
    sent: list[Sent],
    states: dict[str, tuple[str, int]],
    timers: list[str],
    entries: list[str],
) -> None:
    opened = [_opened(rules, item) for item in open_sent]
    plan = _plan(rules, sent, open_=opened)
    assert {i.dedup_key: (i.status, i.events) for i in plan.incidents.values()} == states
    assert [d.kind for d in plan.timers] == timers
    kinds = [type(e).__name__ for lines in plan.timeline.values() for e in lines]
    assert kinds == [f"{k.capitalize()}Entry" for k in entries]
    assert plan.seen == _arrivals(sent, rules, TUESDAY)


def test_an_acknowledgement_times_out_after_the_severitys_timeout(rules: Rules) -> None:
    incident = _opened(rules, {**P2, "severity": "P1"})
    plan = _plan(rules, [{**P2, "action": "acknowledge"}], open_=[incident])
    assert plan.timers == [Due("ack_timeout", incident.id, at=TUESDAY + timedelta(hours=1))]


def test_an_event_folded_before_changes_nothing(rules: Rules) -> None:
    plan = _plan(rules, [P2, P2], seen={"evt-agg", "evt-agg-1"})
    assert plan.outcomes == [None, None]
    assert plan.incidents == {} and plan.timers == [] and plan.seen == []
    assert plan.counted == {}


def test_an_event_twice_in_one_batch_folds_once(rules: Rules) -> None:
    (arrival,) = _arrivals([P2], rules, TUESDAY)
    plan = plan_fold([arrival, arrival], {}, set(), {}, rules, TUESDAY)
    assert plan.outcomes[1] is None and plan.seen == [arrival]


def test_data_ready_marks_the_day_for_the_deadline(rules: Rules) -> None:
    plan = _plan(rules, [READY])
    assert plan.ready == [ReadyMarker("profit.unit", "2026-11-24", "data_ready", "evt-ready")]


def test_a_night_p2_waits_for_the_morning(rules: Rules) -> None:
    plan = _plan(rules, [P2], NIGHT)
    (incident,) = plan.incidents.values()
    assert incident.decision == "defer"
    assert plan.timers[0] == Due("step", incident.id, 0, 0, pacific("2026-11-25 09:00"))


def test_a_report_ready_with_nothing_blocking_it_is_sent(rules: Rules) -> None:
    plan = _plan(rules, [REPORT])
    assert plan.notices and all(isinstance(n, ReportReady) for n in plan.notices)
    assert {n.recipient for n in plan.notices} == {a.email for a in rules.team.analysts}
    assert all(not n.blockers for n in plan.notices)


def test_a_report_ready_is_held_by_its_source_pipelines_problem(rules: Rules) -> None:
    """An open data_missing on profit.unit (which profit.aggregate is built from) holds
    the report; the analysts hear of the delay with the newest estimate."""
    blocker = _opened(rules, MISSING)
    estimates = {blocker.id: ("2026-11-24T17:30:00Z", "2026-11-25T12:00:00Z")}
    plan = _plan(rules, [REPORT], open_=[blocker], estimates=estimates)
    held = [n for n in plan.notices if isinstance(n, ReportReady)]
    delayed = [n for n in plan.notices if isinstance(n, ReportDelayed)]
    assert held and all(n.blockers == [blocker] for n in held)
    assert len(delayed) == len(held)
    assert all(d.estimate == "2026-11-25T12:00:00Z" for d in delayed)


def test_a_blocker_resolved_earlier_in_the_batch_holds_nothing(rules: Rules) -> None:
    blocker = _opened(rules, MISSING)
    plan = _plan(rules, [READY, REPORT], open_=[blocker])
    assert plan.notices and all(isinstance(n, ReportReady) for n in plan.notices)


def test_a_team_chat_hears_what_pages(tmp_path: Path) -> None:
    chatty = edited_rules(
        tmp_path,
        team=lambda team: team.update(chat="json://localhost/chat"),
    )
    plan = _plan(
        chatty, [P2, {"pipeline": "growth.aggregate", "type": "slow_query", "severity": "P4"}]
    )
    (paged,) = [i for i in plan.incidents.values() if i.decision == "page"]
    assert plan.chats == [Chat(paged, "triggered")]  # a P4 records, and the chat stays quiet


# -- actions on one incident --------------------------------------------------------------


def test_acknowledging_from_the_api_is_an_event_of_that_person(rules: Rules) -> None:
    incident = _opened(rules, P2)
    plan = plan_action(incident, "acknowledge", "Kshama Kumar", "api-1", rules, TUESDAY)
    assert plan is not None
    (acked,) = plan.incidents.values()
    assert (acked.status, acked.acknowledged_by) == ("acknowledged", "Kshama Kumar")
    assert [type(e) for e in plan.timeline[incident.id]] == [EventEntry, DecisionEntry]
    assert [d.kind for d in plan.timers] == ["ack_timeout"]


# (the action, who, from what) -> the audit log's line
# fmt: off
AUDITED: list[tuple[str, str, str]] = [
    ("acknowledge", "Kshama Kumar (Slack)", "incident acknowledged"),
    ("resolve", "Biswa Kalyan Rath (email reply)", "incident resolved"),
    ("acknowledge", "kshama", "incident acknowledged"),  # an API token's name
]
# fmt: on


@pytest.mark.parametrize(("action", "by", "audited"), AUDITED)
def test_a_persons_action_is_a_line_of_the_audit_log(
    rules: Rules, action: str, by: str, audited: str
) -> None:
    incident = _opened(rules, P2)
    plan = plan_action(incident, action, by, "api-1", rules, TUESDAY)  # type: ignore[arg-type]
    assert plan is not None
    summary = incident.summary or incident.type.replace("_", " ")
    assert plan.audit == [AuditLine(TUESDAY, by, audited, incident.id, incident.pipeline, summary)]


@pytest.mark.parametrize(
    ("status", "action"),
    [("acknowledged", "acknowledge"), ("resolved", "acknowledge"), ("resolved", "resolve")],
)
def test_an_action_with_nothing_to_do_plans_nothing(rules: Rules, status: str, action: str) -> None:
    incident = _opened(rules, P2).model_copy(update={"status": status})
    assert plan_action(incident, action, "K", "api-1", rules, TUESDAY) is None  # type: ignore[arg-type]


def test_a_snooze_moves_the_ack_timeout(rules: Rules) -> None:
    incident = _opened(rules, P2)
    assert plan_snooze(incident, 3600, "K", TUESDAY) is None  # triggered: not snoozed
    acked = incident.model_copy(update={"status": "acknowledged"})
    plan = plan_snooze(acked, 7200, "K", TUESDAY)
    assert plan is not None
    until = TUESDAY + timedelta(hours=2)
    assert plan.timeline[incident.id] == [
        SnoozeEntry("2026-11-24T18:00:00Z", "K", "2026-11-24T20:00:00Z")
    ]
    assert plan.timers == [Due("ack_timeout", incident.id, at=until)]
    assert [(a.action, a.by) for a in plan.audit] == [("incident snoozed", "K")]


def test_an_acknowledgement_that_timed_out_triggers_again(rules: Rules) -> None:
    incident = _opened(rules, P2)
    later = TUESDAY + timedelta(hours=4)
    acked = incident.model_copy(
        update={"status": "acknowledged", "acknowledged_by": "K", "ack_expires_at": later}
    )
    assert plan_retrigger(acked, rules, later - timedelta(seconds=1)) is None  # not yet
    plan = plan_retrigger(acked, rules, later)
    assert plan is not None
    (again,) = plan.incidents.values()
    assert (again.status, again.cycle, again.acknowledged_by) == ("triggered", 1, None)
    kinds = [type(e) for e in plan.timeline[incident.id]]
    assert kinds == [AckTimeoutEntry, DecisionEntry]
    assert plan.timers[0] == Due("step", incident.id, 0, 0, None)


UNIT = {"pipeline": "profit.unit", "type": "job_failed"}
GROWTH = {"pipeline": "growth.aggregate", "type": "slow_query"}


# the events' pipelines -> the groups that fold apart, as indexes
@pytest.mark.parametrize(
    ("sent", "groups"),
    [
        ([P2, GROWTH, P2, GROWTH], [[0, 2], [1, 3]]),
        ([UNIT, GROWTH, REPORT], [[0, 2], [1]]),  # profit.aggregate's report reads profit.unit
        ([P2, UNIT, GROWTH, REPORT], [[0, 1, 3], [2]]),  # the report joins two groups
        ([GROWTH], [[0]]),
    ],
)
def test_pipelines_no_event_touches_together_fold_apart(
    rules: Rules, sent: list[Sent], groups: list[list[int]]
) -> None:
    assert fold_groups(_arrivals(sent, rules, TUESDAY), rules) == groups


def test_an_action_writes_no_marker_and_queues_no_notice(rules: Rules) -> None:
    """Only the events a pipeline sends mark data ready, hold reports, or are `seen`."""
    incident = _opened(rules, MISSING)
    plan = plan_action(incident, "resolve", "Kshama Kumar", "api-1", rules, TUESDAY)
    assert plan is not None
    assert plan.seen == [] and plan.ready == [] and plan.notices == []
    assert plan.counted == {("Kshama Kumar", "profit.unit", incident.severity, "none"): 1}
    assert [d.kind for d in plan.timers] == ["resolved"]


def test_a_chat_timer_keeps_its_place_among_the_timers(tmp_path: Path) -> None:
    chatty = edited_rules(tmp_path, team=lambda team: team.update(chat="json://localhost/chat"))
    plan = _plan(chatty, [P2])
    kinds = [d.kind for d in plan.timers]
    assert kinds[:2] == ["chat", "step"] and kinds.count("chat") == 1


def test_many_folds_of_one_key_in_a_batch_give_each_event_its_entries(rules: Rules) -> None:
    """Folds into an incident changed earlier in the batch are counted and copied once at
    the end: the entries, reasons and counts are those of folding one event at a time."""
    ack = {**P2, "action": "acknowledge"}
    other = {**P2, "dedup_key": "agg-2"}
    sent: list[Sent] = [P2, P2, other, P2, P2, ack, P2, other, READY, P2, MISSING, P2]
    opened = _opened(rules, other).model_copy(update={"id": "inc-open"})
    plan = _plan(rules, sent, open_=[opened])
    # the same events one at a time, each on the book the one before left
    book = {opened.dedup_key: opened}
    timeline: dict[str, list[object]] = {}
    incidents: dict[str, Incident] = {}
    for arrival in _arrivals(sent, rules, TUESDAY):
        books = {"profit.aggregate": dict(book)}
        one = plan_fold([arrival], books, set(), {}, rules, TUESDAY)
        for incident_id, entries in one.timeline.items():
            timeline.setdefault(incident_id, []).extend(entries)
        incidents.update(one.incidents)
        book.update(
            {
                i.dedup_key: i
                for i in one.incidents.values()
                if i.is_open and i.pipeline == "profit.aggregate"
            }
        )
        (outcome,) = one.outcomes
        assert outcome is not None
    assert plan.timeline == timeline
    for key, incident in incidents.items():
        left = plan.incidents[key].model_dump()
        assert {k: v for k, v in left.items() if v != incident.model_dump()[k]} == {}
    agg = next(i for i in plan.incidents.values() if i.dedup_key == "agg")
    assert (agg.status, agg.events) == ("acknowledged", 7)
    assert plan.incidents[opened.id].events == 3
    reasons = [e.reason for e in plan.timeline[agg.id] if isinstance(e, DecisionEntry)]
    assert len(reasons) == 2  # opened, acknowledged
    decided = [o.decision.reason for o in plan.outcomes if o is not None]
    assert sum("(7 events)" in r for r in decided) == 1
    last = plan.outcomes[7]  # the last fold into agg-2 holds its final state
    assert last is not None and last.changed == [plan.incidents[opened.id]]
