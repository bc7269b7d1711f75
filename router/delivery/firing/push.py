"""A step's pushes that wait for an acknowledgement: none once it came (the timer is
released with the incident no longer triggered)."""

from __future__ import annotations

from datetime import datetime

from router.core.digest import PageBudget
from router.core.incidents import Incident
from router.core.rules import Rules
from router.delivery.firing.due import DueStep, pushes, recipients
from router.delivery.firing.plan import Plan, Release, Reschedule


def decide(
    found: DueStep,
    incident: Incident,
    rules: Rules,
    now: datetime,
    budget: PageBudget | None = None,
) -> Plan:
    """The pushes due by now; the timer is due again for the next one, if any. The page
    budget (`budget`) holds pages, not these reminders of them: a step whose pages were
    all held set no push timer (router.delivery.firing.step)."""
    names = recipients(found, incident, rules)
    pushed, later = pushes(incident, found, names, rules, now)
    then = Reschedule(later.timestamp()) if later is not None else Release()
    return Plan(said=f"push to {', '.join(names)}", sends=pushed, then=then)
