"""A step's pushes that wait for an acknowledgement: none once it came (the timer is
released with the incident no longer triggered)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from router.firing.due import DueStep, due_step, pushes, recipients
from router.firing.plan import Done, Fired, Plan, Release, Reschedule
from router.firing.run import Runner
from router.incidents import Incident
from router.rules import Rules
from router.store import IncidentStore
from router.timers import Timer


def decide(found: DueStep, incident: Incident, rules: Rules, now: datetime) -> Plan:
    """The pushes due by now; the timer is due again for the next one, if any."""
    names = recipients(found, incident, rules)
    pushed, later = pushes(incident, found, names, rules, now)
    then = Reschedule(later.timestamp()) if later is not None else Release()
    return Plan(said=f"push to {', '.join(names)}", sends=pushed, then=then)


class PushHandler:
    def __init__(
        self, store: IncidentStore, current_rules: Callable[[], Rules], runner: Runner
    ) -> None:
        self.store, self.current_rules, self.runner = store, current_rules, runner

    def fire(self, member: str, timer: Timer, now: datetime) -> Fired:
        incident = self.store.get(timer.incident)
        found = due_step(timer, incident, now)
        if isinstance(found, Done):
            return self.runner.done(member, found)
        assert incident is not None
        return self.runner.run(member, decide(found, incident, self.current_rules(), now), now)
