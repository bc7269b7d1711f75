"""The handler of the timers that fire an escalation step's work (step, push): the step
the timer is for, then the kind's own pure decision."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from router.core.incidents import Incident
from router.core.rules import Rules
from router.delivery.firing.due import DueStep, due_step
from router.delivery.firing.plan import Done, Fired, Plan, ReadAhead
from router.delivery.firing.run import NOTHING_AHEAD, Ahead, Runner
from router.state.store import IncidentStore
from router.state.timers import Timer

Decide = Callable[[DueStep, Incident, Rules, datetime], Plan]


class DueStepHandler:
    def __init__(
        self,
        decide: Decide,
        store: IncidentStore,
        runner: Runner,
    ) -> None:
        self.decide_step, self.store, self.runner = decide, store, runner

    def decide(self, timer: Timer, now: datetime, ahead: ReadAhead) -> Done | Plan:
        if timer.incident in ahead.incidents:
            incident = ahead.incidents[timer.incident]
        else:
            incident = self.store.get(timer.incident)
        found = due_step(timer, incident, now)
        if isinstance(found, Done):
            return found
        assert incident is not None
        return self.decide_step(found, incident, ahead.rules, now)

    def run(
        self, member: str, decided: Done | Plan, now: datetime, ahead: Ahead = NOTHING_AHEAD
    ) -> Fired:
        if isinstance(decided, Done):
            return self.runner.done(member, decided)
        return self.runner.run(member, decided, now, ahead)

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        return self.run(member, self.decide(timer, now, ahead), now)
