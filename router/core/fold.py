"""What a batch of events, or an action on one incident, causes: a plan, as data.

The core decides, the shell writes. `plan_fold` folds events in order over the open
incidents the shell read for them, and `plan_action` (acknowledge, resolve), `plan_snooze`,
`plan_retrigger`, `plan_hold` and `plan_unmute` (maintenance windows) change one
incident; each returns a `Plan`: the incidents in their
last state, the timeline entries, the timers, the chat lines, the notices to queue, the
`data_ready` markers, the `seen` markers and the counts. One writer in the shell
(router.state.writer) turns a plan into one transaction. Nothing here reads Redis or a clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from router.core.deadlines import DEADLINE_SOURCE, data_day, reports_fed_by
from router.core.decide import Decision, analyst_emails
from router.core.escalation import PlannedStep
from router.core.events import Action, Event
from router.core.incidents import (
    Act,
    Incident,
    Outcome,
    Status,
    act_on,
    apply_event,
    decided_again,
    folded_decision,
    folds_into,
    keep_open,
    retrigger,
    with_decision,
)
from router.core.maintenance import Muted
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline
from router.core.times import iso_z

# -- timeline entries: one type per kind the fold writes ---------------------------------


class EventEntry(msgspec.Struct, frozen=True, tag_field="kind", tag="event"):
    at: str
    event_id: str
    action: Action
    type: str
    summary: str
    source: str | None


class DecisionEntry(msgspec.Struct, frozen=True, tag_field="kind", tag="decision"):
    at: str
    decision: str
    reason: str


class AckTimeoutEntry(msgspec.Struct, frozen=True, tag_field="kind", tag="ack timeout"):
    at: str
    acknowledged_by: str | None


class SnoozeEntry(msgspec.Struct, frozen=True, tag_field="kind", tag="snooze"):
    at: str
    by: str
    until: str


class MaintenanceEntry(msgspec.Struct, frozen=True, tag_field="kind", tag="maintenance"):
    """A maintenance window held the incident's escalation, or it resumed."""

    at: str
    text: str
    window: str | None = None


Entry = EventEntry | DecisionEntry | AckTimeoutEntry | SnoozeEntry | MaintenanceEntry

# -- what else a plan causes -------------------------------------------------------------

DueKind = Literal["step", "resolved", "ack_timeout", "action", "chat", "unmute"]
ChatChange = Literal["triggered", "triggered again", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True)
class Due:
    """A timer: at `at`, or at once (fired from the plan's own transaction) when None."""

    kind: DueKind
    incident: str
    round: int = 0
    step: int = 0
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Chat:
    """A line for the team chat about the incident's change (the team has a chat)."""

    incident: Incident
    change: ChatChange
    who: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ReportReady:
    """A report_ready email to an analyst: held until `blockers` resolve, if any."""

    event_id: str
    event: Event
    pipeline: Pipeline
    day: str
    recipient: str
    blockers: list[Incident]


@dataclass(frozen=True, slots=True)
class ReportDelayed:
    """The analyst hears that a report is late: what blocks it, and the latest estimate."""

    pipeline: Pipeline
    day: str
    recipient: str
    blockers: list[Incident]
    estimate: str | None


Notice = ReportReady | ReportDelayed


@dataclass(frozen=True, slots=True)
class ReadyMarker:
    """The data a deadline expects has come (router.service.watchers checks it)."""

    pipeline: str
    day: str
    type: str
    event_id: str


@dataclass(frozen=True, slots=True)
class MutedMarker:
    """An incident a maintenance window's occurrence (from `since`) kept from paging:
    the summary at the window's end lists it."""

    window: str
    since: datetime
    incident: str


@dataclass(frozen=True)
class AuditLine:
    """A person's action on an incident, for the audit log (router.state.audit)."""

    at: datetime
    by: str
    action: str
    """`incident acknowledged`, `incident resolved`, `incident snoozed`."""
    incident: str
    pipeline: str
    summary: str


def _audited(incident: Incident, verb: str, by: str, now: datetime) -> AuditLine:
    summary = incident.summary or incident.type.replace("_", " ")
    return AuditLine(now, by, f"incident {verb}", incident.id, incident.pipeline, summary)


Estimate = tuple[str, str]
"""(when, estimate) of an incident's newest note that has an estimate."""

Counted = tuple[str, str, str, str]
"""(source, pipeline, severity, decision): one event folded."""


@dataclass
class Plan:
    outcomes: list[Outcome | None] = field(default_factory=list)
    """Per event, in order: what it did; None when folded before (a redelivery). A fold
    into an incident changed earlier in the batch holds the incident's last state."""
    incidents: dict[str, Incident] = field(default_factory=dict)
    """Each incident changed, in its last state."""
    timeline: dict[str, list[Entry]] = field(default_factory=dict)
    timers: list[Due] = field(default_factory=list)
    chats: list[Chat] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    ready: list[ReadyMarker] = field(default_factory=list)
    seen: list[Arrival] = field(default_factory=list)
    """The events folded: their markers stop a redelivery folding them again."""
    muted: list[MutedMarker] = field(default_factory=list)
    before: dict[str, Status | None] = field(default_factory=dict)
    """Each changed incident's status before the plan (None: opened by it)."""
    counted: Counter[Counted] = field(default_factory=Counter)
    audit: list[AuditLine] = field(default_factory=list)
    """What people did, for the audit log."""

    def note(self, incident_id: str, entry: Entry) -> None:
        self.timeline.setdefault(incident_id, []).append(entry)


@dataclass(frozen=True, slots=True)
class Arrival:
    """One event to fold: its id (the `seen` marker), the id an incident it opens gets,
    and when it arrived (the day its `seen` marker is kept under)."""

    event: Event
    event_id: str
    new_id: str
    received_at: datetime


# -- the fold of a batch -----------------------------------------------------------------


def report_sources(event: Event, rules: Rules) -> list[str]:
    """The pipelines whose open problems hold a report_ready of `event`'s pipeline."""
    if event.type not in rules.routing.paging.notify_types:
        return []
    pipeline = rules.pipelines.get(event.pipeline)
    return [event.pipeline, *(pipeline.built_from if pipeline else [])]


def touched(event: Event, rules: Rules) -> list[str]:
    """The pipelines an event's fold reads: its own, and what a report it makes ready is
    built from."""
    return [event.pipeline, *report_sources(event, rules)]


def fold_groups(arrivals: list[Arrival], rules: Rules) -> list[list[int]]:
    """The arrivals' indexes in groups that fold apart: events of pipelines that no event
    touches together (a report_ready reads its source pipelines' blockers), each group
    in the batch's order. Folded apart, they never wait on one another."""
    group_of: dict[str, int] = {}  # pipeline -> its group's number
    groups: list[list[int]] = []
    for index, arrival in enumerate(arrivals):
        pipelines = touched(arrival.event, rules)
        found = sorted({group_of[p] for p in pipelines if p in group_of})
        if not found:
            number = len(groups)
            groups.append([])
        else:
            number, *others = found
            for other in others:  # this event joins groups: merge them, keeping the order
                groups[number] = sorted(groups[number] + groups[other])
                groups[other] = []
                group_of.update({p: number for p, g in group_of.items() if g == other})
        groups[number].append(index)
        group_of.update(dict.fromkeys(pipelines, number))
    return [group for group in groups if group]


def plan_fold(
    arrivals: list[Arrival],
    books: Mapping[str, Mapping[str, Incident]],
    seen: set[str],
    estimates: Mapping[str, Estimate],
    rules: Rules,
    now: datetime,
) -> Plan:
    """Fold `arrivals` in order. `books`: per pipeline, the open incidents by dedup key
    that the events can touch or that block a report they make ready; `seen`: the event
    ids folded before; `estimates`: the latest fix estimate in the blockers' notes."""
    plan = Plan()
    working = {pipeline: dict(book) for pipeline, book in books.items()}
    statuses = {i.id: i.status for book in books.values() for i in book.values()}
    folded: set[str] = set()  # an event twice in one batch folds once
    at = iso_z(now)
    running: dict[str, _Running] = {}  # incidents folded into again, copied once at the end
    for arrival in arrivals:
        event = arrival.event
        if arrival.event_id in seen or arrival.event_id in folded:
            plan.outcomes.append(None)
            continue
        folded.add(arrival.event_id)
        book = working.setdefault(event.pipeline, {})
        current = folds_into(book, event, rules)
        if current is not None and current.id in plan.incidents:
            # changed before in this batch: count the event, copy the incident once
            count = running.setdefault(current.id, _Running(book, current, current.events))
            count.events += 1
            decision = folded_decision(current, count.events, event, rules)
            outcome = Outcome(decision=decision, changed=[current])
            count.outcomes.append(outcome)
            plan.outcomes.append(outcome)
            plan.seen.append(arrival)
            _effects(plan, outcome, arrival, working, estimates, rules, now, at)
            continue
        _settle(plan, running)  # the book as it is before any other change reads it
        outcome = apply_event(book, event, rules, now, arrival.new_id)
        keep_open(book, outcome)
        plan.outcomes.append(outcome)
        plan.seen.append(arrival)
        for incident in outcome.changed:
            plan.before.setdefault(incident.id, statuses.get(incident.id))
        _effects(plan, outcome, arrival, working, estimates, rules, now, at)
    _settle(plan, running)
    return plan


@dataclass(slots=True)
class _Running:
    """An incident folded into again in a batch: its book, its state in that book, the
    events it counts by now and the outcomes that folded into it since."""

    book: dict[str, Incident]
    incident: Incident
    events: int
    outcomes: list[Outcome] = field(default_factory=list)


def _settle(plan: Plan, running: dict[str, _Running]) -> None:
    """Each incident folded into again: one copy with its count, in its book, the plan
    and the outcomes that folded into it."""
    for incident_id, count in running.items():
        final = count.incident.model_copy(update={"events": count.events})
        count.book[final.dedup_key] = final
        plan.incidents[incident_id] = final
        for outcome in count.outcomes:
            outcome.changed[0] = final
    running.clear()


def _effects(
    plan: Plan,
    outcome: Outcome,
    arrival: Arrival,
    books: Mapping[str, Mapping[str, Incident]],
    estimates: Mapping[str, Estimate],
    rules: Rules,
    now: datetime,
    at: str,
) -> None:
    event, decision = arrival.event, outcome.decision
    source = event.source or "unknown"
    plan.counted[source, event.pipeline, decision.severity, decision.decision] += 1
    said = EventEntry(at, arrival.event_id, event.action, event.type, event.summary, event.source)
    _changes(plan, outcome, said, rules, now, at)
    pipeline = rules.pipeline(event.pipeline)
    expected = {deadline.expects for deadline in pipeline.deadlines}
    if event.type in rules.routing.paging.resolves or event.type in expected:
        day = str(data_day(event, rules))
        plan.ready.append(ReadyMarker(event.pipeline, day, event.type, arrival.event_id))
    if event.source == DEADLINE_SOURCE and outcome.opened is not None:
        # a missed deadline: the analysts of the reports it feeds hear of the delay
        day = str(data_day(event, rules))
        for report in reports_fed_by(event.pipeline, rules):
            for recipient in analyst_emails(report, rules):
                plan.notices.append(ReportDelayed(report, day, recipient, [outcome.opened], None))
    if decision.decision == "notify":
        day = str(data_day(event, rules))
        blocking = rules.routing.paging.report_blockers
        blockers = [
            incident
            for source in report_sources(event, rules)
            for incident in books.get(source, {}).values()
            if incident.type in blocking
        ]
        estimate = _latest(estimates, blockers)
        for recipient in decision.recipients:
            ready = ReportReady(arrival.event_id, event, pipeline, day, recipient, blockers)
            plan.notices.append(ready)
            if blockers:  # held until the last blocker resolves; the analysts hear now
                plan.notices.append(ReportDelayed(pipeline, day, recipient, blockers, estimate))


def _latest(estimates: Mapping[str, Estimate], blockers: list[Incident]) -> str | None:
    found = [estimates[i.id] for i in blockers if i.id in estimates]
    return max(found)[1] if found else None


def _changes(
    plan: Plan, outcome: Outcome, said: EventEntry, rules: Rules, now: datetime, at: str
) -> None:
    """The entries, timers and chat lines of what one event (or action, `said`) changed."""
    for incident in outcome.changed:
        plan.incidents[incident.id] = incident  # written once, in its last state
        plan.note(incident.id, said)
        acknowledged = incident.status == "acknowledged" and said.action == "acknowledge"
        if incident is outcome.opened or incident.status == "resolved" or acknowledged:
            plan.note(incident.id, _decided(at, outcome.decision))
        if incident.status == "resolved":  # everyone paged is told, from the outbox
            plan.timers.append(Due("resolved", incident.id))
            _chat(plan, rules, incident, "resolved", incident.resolved_by or "")
        if acknowledged:
            _ack_timeout(plan, incident)
            _chat(plan, rules, incident, "acknowledged", incident.acknowledged_by or "")
    opened = outcome.opened
    if opened is not None:
        _chat(plan, rules, opened, "triggered")
        _start(plan, opened, outcome.decision.muted, rules, now)


def _start(
    plan: Plan, incident: Incident, muted: Muted | None, rules: Rules, now: datetime
) -> None:
    """What an incident's decision starts: its escalation's timers and the runbook's
    automatic actions; for one a maintenance window suppressed, its decision again at
    the window's end instead."""
    if muted is not None:
        _unmute_at(plan, incident.id, muted)
        return
    _steps(plan, incident, now)
    actions = rules.pipeline(incident.pipeline).actions.get(incident.type, [])
    automatic = [n for n, a in enumerate(actions) if not getattr(a, "confirm", False)]
    _actions(plan, incident, automatic, now)


def _unmute_at(plan: Plan, incident_id: str, muted: Muted) -> None:
    """The timer of `plan_unmute` at the window's end, and the marker its summary reads."""
    plan.timers.append(Due("unmute", incident_id, at=muted.until))
    plan.muted.append(MutedMarker(muted.window.id, muted.since, incident_id))


def _decided(at: str, decision: Decision) -> DecisionEntry:
    return DecisionEntry(at, decision.decision, decision.reason)


def _chat(
    plan: Plan,
    rules: Rules,
    incident: Incident,
    change: ChatChange,
    who: str = "",
    detail: str = "",
) -> None:
    """For incidents that page only: the stream is for what someone must act on. Its
    timer (one per incident, at once) keeps its place among the others."""
    if rules.team.has_chat() and incident.decision in ("page", "defer"):
        plan.chats.append(Chat(incident, change, who, detail))
        if Due("chat", incident.id) not in plan.timers:
            plan.timers.append(Due("chat", incident.id))


def _steps(
    plan: Plan, incident: Incident, now: datetime, steps: list[PlannedStep] | None = None
) -> None:
    """The escalation's timers (of `steps`: all by default); a step due by now fires
    from the plan's transaction (the first page: no wait for a scheduler tick)."""
    if incident.deliver_at is None:
        return
    for step in incident.escalation if steps is None else steps:
        due = incident.deliver_at + timedelta(seconds=step.after_s)
        at = None if due <= now else due
        plan.timers.append(Due("step", incident.id, step.round, step.step, at))


def _actions(plan: Plan, incident: Incident, indexes: list[int], now: datetime) -> None:
    """A runbook's automatic actions go when the page does (at once, or at the next
    business-hours start for a deferred one): round = the action's index. One that needs
    confirming waits for its button (router.api.runbook_actions)."""
    if incident.deliver_at is None:
        return
    at = None if incident.deliver_at <= now else incident.deliver_at
    for index in indexes:
        plan.timers.append(Due("action", incident.id, index, 0, at))


def _ack_timeout(plan: Plan, incident: Incident) -> None:
    """One timer per incident: a snooze moves it."""
    if incident.ack_expires_at is not None:
        plan.timers.append(Due("ack_timeout", incident.id, at=incident.ack_expires_at))


# -- actions on one incident -------------------------------------------------------------


def plan_action(
    current: Incident, action: Act, by: str, action_id: str, rules: Rules, now: datetime
) -> Plan | None:
    """An acknowledge or resolve by `by`, recorded on the timeline as that action
    (`action_id`). None when there is nothing to do (acknowledged already, or resolved)."""
    outcome = act_on(current, action, by, rules, now)
    if outcome is None:
        return None
    plan = Plan(outcomes=[outcome], before={current.id: current.status})
    at = iso_z(now)
    plan.counted[by, current.pipeline, current.severity, "none"] += 1
    said = EventEntry(at, action_id, action, current.type, "", by)
    _changes(plan, outcome, said, rules, now, at)
    verb = "acknowledged" if action == "acknowledge" else "resolved"
    plan.audit.append(_audited(current, verb, by, now))
    return plan


def plan_snooze(current: Incident, for_s: int, by: str, now: datetime) -> Plan | None:
    """Postpone an acknowledged incident's return to triggered until `for_s` from now."""
    if current.status != "acknowledged":
        return None
    until = now + timedelta(seconds=for_s)
    snoozed = current.model_copy(update={"ack_expires_at": until})
    plan = Plan(incidents={snoozed.id: snoozed}, before={snoozed.id: current.status})
    plan.note(snoozed.id, SnoozeEntry(iso_z(now), by, iso_z(until)))
    _ack_timeout(plan, snoozed)
    plan.audit.append(_audited(snoozed, "snoozed", by, now))
    return plan


def plan_retrigger(current: Incident, rules: Rules, now: datetime) -> Plan | None:
    """An acknowledgement that timed out: triggered again, its escalation from the start,
    decided as a new trigger would be now. None when there is nothing to do (not
    acknowledged, snoozed past now, or it would not page)."""
    if current.ack_expires_at is None or current.ack_expires_at > now:
        return None
    found = retrigger(current, rules, now)
    if found is None:
        return None
    again, decision = found
    at = iso_z(now)
    plan = Plan(incidents={again.id: again}, before={again.id: current.status})
    plan.note(again.id, AckTimeoutEntry(at, current.acknowledged_by))
    plan.note(again.id, _decided(at, decision))
    if decision.muted is not None:
        _unmute_at(plan, again.id, decision.muted)
    else:
        _steps(plan, again, now)
    _chat(plan, rules, again, "triggered again", detail="acknowledgement timed out")
    return plan


# -- maintenance windows -----------------------------------------------------------------


def plan_hold(current: Incident, muted: Muted, due: datetime, now: datetime) -> Plan | None:
    """An escalation step, due at `due`, fell in a maintenance window over the incident:
    its escalation is held from that step until `plan_unmute` at the window's end. None
    when it is held already (a later step found it so), or no longer paging."""
    if current.status != "triggered" or current.held_at is not None:
        return None
    if current.decision not in ("page", "defer"):
        return None
    held = current.model_copy(update={"held_at": due})
    plan = Plan(incidents={held.id: held}, before={held.id: current.status})
    until = iso_z(muted.until)
    text = f"escalation held until {until}: {muted.window.describe()}"
    plan.note(held.id, MaintenanceEntry(iso_z(now), text, muted.window.id))
    _unmute_at(plan, held.id, muted)
    return plan


def plan_unmute(current: Incident, rules: Rules, now: datetime) -> Plan | None:
    """A maintenance window over the incident has ended (its timer, or the window ended
    early). Suppressed: decided again as a new trigger would be now, quiet hours
    included. Held: its escalation resumes from the step it had reached, that step now
    and the later ones as far apart as planned. Still under a window (another one, or
    the timer came early): due again at that window's end. None when there is nothing
    to do (acknowledged, resolved, or neither suppressed nor held)."""
    if current.status != "triggered":
        return None
    if current.decision == "suppressed":
        return _decide_again(current, rules, now)
    if current.held_at is None or current.deliver_at is None:
        return None
    muted = rules.muting(current.pipeline, current.type, current.severity, now)
    if muted is not None:
        plan = Plan()
        _unmute_at(plan, current.id, muted)
        return plan
    shift = now - current.held_at
    resumed = current.model_copy(update={"deliver_at": current.deliver_at + shift, "held_at": None})
    plan = Plan(incidents={resumed.id: resumed}, before={resumed.id: current.status})
    held = [
        step
        for step in current.escalation
        if current.deliver_at + timedelta(seconds=step.after_s) >= current.held_at
    ]
    text = f"escalation resumed at {iso_z(now)}, {len(held)} step(s) left"
    plan.note(resumed.id, MaintenanceEntry(iso_z(now), text))
    _steps(plan, resumed, now, held)
    return plan


def _decide_again(current: Incident, rules: Rules, now: datetime) -> Plan | None:
    decision = decided_again(current, rules, now, "maintenance window ended")
    if decision.muted is not None and decision.deliver_at == current.deliver_at:
        plan = Plan()  # the timer came early: again at the window's end
        _unmute_at(plan, current.id, decision.muted)
        return plan
    again = with_decision(current, decision)
    plan = Plan(incidents={again.id: again}, before={again.id: current.status})
    plan.note(again.id, _decided(iso_z(now), decision))
    _chat(plan, rules, again, "triggered")
    _start(plan, again, decision.muted, rules, now)
    return plan
