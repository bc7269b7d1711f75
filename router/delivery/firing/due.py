"""The escalation step a step or push timer is for, and the pushes it makes: pure, shared
by router.delivery.firing.step and router.delivery.firing.push."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from router.config.contact_methods import masked
from router.core import paging
from router.core.escalation import PlannedStep, recipients_now
from router.core.incidents import Incident
from router.core.rules import Rules
from router.delivery.firing import records
from router.delivery.firing.plan import Done, Leave, PagePush, Release, Send
from router.state.timers import Timer


@dataclass(frozen=True)
class DueStep:
    index: int
    """Its place in the incident's plan."""
    step: PlannedStep
    start: datetime
    """When the incident's first message was due: the plan counts from it."""
    due: datetime
    """When this step's email was due."""


def due_step(timer: Timer, incident: Incident | None, now: datetime) -> DueStep | Done:
    """The step of a step or push timer, due by now; or why there is nothing to send."""
    if incident is None:
        return Done("stale", "no such incident", Release())
    if incident.status != "triggered" or incident.deliver_at is None:
        return Done("nothing", f"incident {incident.status}", Release())
    plan = incident.escalation
    index = next(
        (n for n, s in enumerate(plan) if (s.round, s.step) == (timer.round, timer.step)),
        None,
    )
    if index is None:
        return Done("stale", "step not in plan", Release())
    step = plan[index]
    due = incident.deliver_at + timedelta(seconds=step.after_s)
    if now < due:
        return Done("early", "", Leave())  # the lease stays: it is claimed again when due
    return DueStep(index, step, incident.deliver_at, due)


@dataclass(frozen=True)
class Hold:
    """A step due during a maintenance window over its incident: the escalation is held
    until the window's end (router.core.fold.plan_hold, with the window as the store
    finds it then), the step's timer released."""

    incident: str
    due: datetime


def recipients(found: DueStep, incident: Incident, rules: Rules) -> list[str]:
    """Whom the step notifies under the current roster."""
    return recipients_now(found.step, incident.policy, incident.pipeline, found.start, rules)


def step_key(incident: Incident, step: PlannedStep, name: str) -> str:
    """(incident, round, step, person): a channel's key adds the channel to it."""
    key = f"{incident.id}:{step.round}:{step.step}:{name}"
    if incident.cycle:  # escalation started again after an acknowledgement timeout
        key += f":again{incident.cycle}"
    return key


def pushes(
    incident: Incident, found: DueStep, names: list[str], rules: Rules, now: datetime
) -> tuple[tuple[Send, ...], datetime | None]:
    """The step's pushes due by now (sent once per key), and when the next one is due."""
    step = found.step
    tone = paging.urgency(incident, rules)
    due_now, later = [], []
    for push in paging.pushes(incident, names, found.due, rules):
        if push.due > now:
            later.append(push.due)
            continue
        url = rules.team.engineer(push.person).contact_methods[push.method]
        key = f"{step_key(incident, step, push.person)}:push{push.rule}:{push.method}"
        what = PagePush(url, incident, push.person, found.index, tone)
        record = records.push(incident.id, push.person, masked(url), step.round, step.step)
        due_now.append(Send(what, key, record))
    return tuple(due_now), min(later, default=None)
