"""The incident lifecycle as a pure fold: (open incidents, event, now) -> outcome.

Dedup follows PagerDuty: a trigger whose dedup key has an open (triggered or
acknowledged) incident is folded into it; acknowledge and resolve of an unknown key are
dropped; after a resolve the same key opens a new incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.core.decide import Decision, DecisionKind, decide, no_action
from router.core.escalation import PlannedStep, recipients_now
from router.core.events import Details, Event, Link
from router.core.rules import Rules
from router.core.rules.routing import Severity
from router.core.times import iso_z

Status = Literal["triggered", "acknowledged", "resolved"]
Act = Literal["acknowledge", "resolve"]
"""What a person does to an incident from the API, an email link or the console."""


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    dedup_key: str
    pipeline: str
    type: str
    summary: str
    severity: Severity
    category: str | None
    status: Status
    opened_at: datetime
    events: int = 1
    decision: DecisionKind
    deliver_at: datetime | None
    escalation: list[PlannedStep] = Field(default_factory=list)
    policy: str | None = None
    """The escalation policy the plan came from (None for incidents stored before)."""
    cycle: int = 0
    """How many times an acknowledgement timed out and the escalation started again."""
    ack_expires_at: datetime | None = None
    """When an acknowledged incident goes back to triggered (ack timeout or snooze)."""
    held_at: datetime | None = None
    """When the first escalation step a maintenance window held was due: the escalation
    resumes from that step when the window ends (router.core.fold.plan_unmute)."""
    details: Details = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event did: its decision and what it changed (`keep_open` applies that to
    a book). A dataclass: one is made per event folded, of values already checked."""

    decision: Decision
    changed: list[Incident]
    """Incidents opened, folded into, acknowledged or resolved, in their new state."""
    opened: Incident | None = None


OpenIncidents = Mapping[str, Incident]


def keep_open(book: dict[str, Incident], outcome: Outcome) -> None:
    """The book (dedup key -> open incident) after the outcome: changed in place, so a
    batch of events on one book copies nothing per event."""
    for incident in outcome.changed:
        if incident.is_open:
            book[incident.dedup_key] = incident
        else:
            book.pop(incident.dedup_key, None)


def apply_event(
    book: OpenIncidents, event: Event, rules: Rules, now: datetime, new_id: str
) -> Outcome:
    """`book` maps dedup keys to open incidents (read only: `keep_open` applies the
    outcome); `new_id` names an incident the event opens."""
    current = book.get(event.dedup_key)
    by = event.source or "event"

    def done(decision: Decision, *changed: Incident, opened: Incident | None = None) -> Outcome:
        return Outcome(decision=decision, changed=list(changed), opened=opened)

    if event.action != "trigger":
        if current is None:
            reason = (
                f"No open incident has dedup key {event.dedup_key!r}: "
                f"the {event.action} is dropped."
            )
            return done(no_action(event, rules, reason))
        kept = (current.severity, current.category)
        if event.action == "resolve":
            return done(no_action(event, rules, RESOLVES, *kept), _resolve(current, now, by))
        if current.status == "acknowledged":
            return done(no_action(event, rules, "The incident was already acknowledged.", *kept))
        acked = _acknowledge(current, by, rules, now)
        return done(no_action(event, rules, ACKNOWLEDGES, *kept), acked)

    resolves = rules.routing.paging.resolves.get(event.type)
    if resolves is not None:
        finished = [
            _resolve(incident, now, by)
            for _, incident in sorted(book.items())
            if incident.pipeline == event.pipeline and incident.type in resolves
        ]
        keys = ", ".join(incident.dedup_key for incident in finished)
        said = f"resolves {keys}" if finished else "finds nothing open to resolve"
        return done(
            no_action(event, rules, f"{event.type} is a lifecycle event: it {said}."), *finished
        )

    into = folds_into(book, event, rules)  # the one statement of the rule (router.core.fold)
    if into is not None:
        folded = into.model_copy(update={"events": into.events + 1})
        return done(folded_decision(into, folded.events, event, rules), folded)

    decision = decide(event, rules, now)
    if decision.decision == "notify":
        return done(decision)
    opened = Incident(
        id=new_id,
        dedup_key=event.dedup_key,
        pipeline=event.pipeline,
        type=event.type,
        summary=event.summary,
        severity=decision.severity,
        category=decision.category,
        status="triggered",
        opened_at=now,
        decision=decision.decision,
        deliver_at=decision.deliver_at,
        escalation=decision.escalation,
        policy=decision.policy,
        details=event.details,
        links=event.links,
    )
    return done(decision, opened, opened=opened)


def folds_into(book: OpenIncidents, event: Event, rules: Rules) -> Incident | None:
    """The open incident a trigger folds into (as `apply_event` would), if any."""
    if event.action != "trigger" or event.type in rules.routing.paging.resolves:
        return None
    return book.get(event.dedup_key)


def folded_decision(current: Incident, events: int, event: Event, rules: Rules) -> Decision:
    """The decision of a trigger folded into `current`, which then counts `events`."""
    reason = (
        f"Folded into the {current.status} incident opened at {iso_z(current.opened_at)} "
        f"({events} events): nothing new is sent."
    )
    return no_action(event, rules, reason, current.severity, current.category)


def act_on(current: Incident, action: Act, by: str, rules: Rules, now: datetime) -> Outcome | None:
    """A person acknowledges or resolves the incident (the API, an email link, the
    console): None when there is nothing to do (acknowledged already, or resolved)."""
    if not current.is_open or (action == "acknowledge" and current.status == "acknowledged"):
        return None
    if action == "resolve":
        changed, reason = _resolve(current, now, by), RESOLVES
    else:
        changed, reason = _acknowledge(current, by, rules, now), ACKNOWLEDGES
    decision = Decision(
        pipeline=current.pipeline,
        type=current.type,
        dedup_key=current.dedup_key,
        occurred_at=now,
        severity=current.severity,
        category=current.category,
        decision="none",
        deliver_at=None,
        escalation=[],
        recipients=[],
        reason=reason,
    )
    return Outcome(decision=decision, changed=[changed])


RESOLVES = "Resolves the open incident: nothing more is sent for it."
ACKNOWLEDGES = "Acknowledges the open incident: escalation stops."


def _acknowledge(incident: Incident, by: str, rules: Rules, now: datetime) -> Incident:
    return incident.model_copy(
        update={
            "status": "acknowledged",
            "acknowledged_at": now,
            "acknowledged_by": by,
            "ack_expires_at": ack_expiry(incident, rules, now),
        }
    )


def _resolve(incident: Incident, now: datetime, by: str) -> Incident:
    return incident.model_copy(update={"status": "resolved", "resolved_at": now, "resolved_by": by})


_STATUS_RANK: dict[Status, int] = {"triggered": 0, "acknowledged": 1, "resolved": 2}


def attention_order(incident: Incident) -> tuple[int, str, datetime, str]:
    """The sort key of "what needs attention first": triggered before acknowledged before
    resolved, then by severity (P1 first), then the oldest first (it has waited longest,
    as PagerDuty-style tools list them); the id makes the order total."""
    return (_STATUS_RANK[incident.status], incident.severity, incident.opened_at, incident.id)


def paging_now(incident: Incident, now: datetime) -> tuple[list[str], datetime | None]:
    """Who the incident's escalation has reached by `now` (in this round), and when its
    next step fires; nobody and None once it is acknowledged or resolved."""
    if incident.status != "triggered" or incident.deliver_at is None:
        return [], None
    elapsed_s = (now - incident.deliver_at).total_seconds()
    reached = [step for step in incident.escalation if step.after_s <= elapsed_s]
    if incident.held_at is not None:  # a maintenance window held the step due then
        held_s = (incident.held_at - incident.deliver_at).total_seconds()
        reached = [step for step in reached if step.after_s < held_s]
    ahead = [step for step in incident.escalation if step.after_s > elapsed_s]
    names: list[str] = []
    for step in reached:
        if step.round == reached[-1].round:
            names.extend(name for name in step.notify if name not in names)
    if not ahead or incident.held_at is not None:  # held: the next one waits for the end
        return names, None
    return names, incident.deliver_at + timedelta(seconds=ahead[0].after_s)


@dataclass(frozen=True, slots=True)
class NextPage:
    """Whom an incident's escalation pages next, and when, if nobody acknowledges."""

    names: list[str]
    at: datetime


def next_page(incident: Incident, rules: Rules, now: datetime) -> NextPage | None:
    """The next step not yet due by `now`, with its recipients as the roster has them
    now (as the step resolves them again when it fires, router.core.escalation
    .recipients_now); its first step while a deferred page waits. None when nobody is
    paged next: acknowledged, resolved, never paged, held or suppressed by a maintenance
    window, or past its last step."""
    if incident.status != "triggered" or incident.deliver_at is None:
        return None
    if incident.held_at is not None:
        return None
    elapsed_s = (now - incident.deliver_at).total_seconds()
    ahead = [step for step in incident.escalation if step.after_s > elapsed_s]
    if not ahead:
        return None
    step = ahead[0]
    names = recipients_now(step, incident.policy, incident.pipeline, incident.deliver_at, rules)
    return NextPage(names, incident.deliver_at + timedelta(seconds=step.after_s))


def pages_person(incident: Incident, person: str, rules: Rules, now: datetime) -> bool:
    """The incident is paging `person`: it has reached them in this round of its
    escalation and is still unacknowledged, or its next step pages them."""
    reached, _ = paging_now(incident, now)
    coming = next_page(incident, rules, now)
    return person in reached or (coming is not None and person in coming.names)


def ack_expiry(incident: Incident, rules: Rules, now: datetime) -> datetime | None:
    """When an acknowledgement made `now` times out: None if its severity never does."""
    timeout_s = rules.routing.ack_timeout.get(incident.severity)
    return None if timeout_s is None else now + timedelta(seconds=timeout_s)


def retrigger(incident: Incident, rules: Rules, now: datetime) -> tuple[Incident, Decision] | None:
    """An acknowledgement that timed out: the incident is triggered again and its
    escalation starts over, decided as a new trigger would be now (at once, at the next
    business-hours start if it may not page off-hours, or at a maintenance window's end).
    None if it is not acknowledged, or would not page."""
    if incident.status != "acknowledged":
        return None
    decision = decided_again(incident, rules, now, "acknowledgement timeout")
    if decision.decision not in ("page", "defer", "suppressed"):
        return None
    again = with_decision(incident, decision).model_copy(
        update={
            "status": "triggered",
            "acknowledged_at": None,
            "acknowledged_by": None,
            "cycle": incident.cycle + 1,
            "ack_expires_at": None,
        }
    )
    return again, decision


def decided_again(incident: Incident, rules: Rules, now: datetime, source: str) -> Decision:
    """The decision a new trigger of the incident would get at `now`."""
    event = Event(
        pipeline=incident.pipeline,
        type=incident.type,
        summary=incident.summary,
        severity=incident.severity,
        action="trigger",
        dedup_key=incident.dedup_key,
        occurred_at=now,
        source=source,
        details=incident.details,
        links=incident.links,
    )
    return decide(event, rules, now)


def with_decision(incident: Incident, decision: Decision) -> Incident:
    """The incident paging as `decision` says: its escalation from the decision's start."""
    return incident.model_copy(
        update={
            "decision": decision.decision,
            "deliver_at": decision.deliver_at,
            "escalation": decision.escalation,
            "policy": decision.policy,
            "held_at": None,
        }
    )
