"""The handler of the timers that fire an escalation step's work (step, push): the step
the timer is for, then the kind's own pure decision. During a maintenance window over
the incident, a step holds the escalation until the window's end and a push waits for
that end (router.core.maintenance)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.times import iso_z
from router.delivery.firing.due import DueStep, Hold, due_step, window_over
from router.delivery.firing.plan import Done, Fired, Plan, ReadAhead, Release, Reschedule
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
        *,
        holds: bool,
    ) -> None:
        """`holds`: the kind holds the escalation during a window (step), rather than
        wait for the window's end (push)."""
        self.decide_step, self.store, self.runner = decide, store, runner
        self.holds = holds

    def decide(self, timer: Timer, now: datetime, ahead: ReadAhead) -> Done | Plan | Hold:
        if timer.incident in ahead.incidents:
            incident = ahead.incidents[timer.incident]
        else:
            incident = self.store.get(timer.incident)
        found = due_step(timer, incident, now)
        if isinstance(found, Done):
            return found
        assert incident is not None
        muted = window_over(incident, ahead.rules, now)
        if muted is None:
            return self.decide_step(found, incident, ahead.rules, now)
        if self.holds:
            return Hold(incident.id, muted, found.due)
        said = f"waits for {muted.window.id} to end at {iso_z(muted.until)}"
        return Done("muted", said, Reschedule(muted.until.timestamp()))

    def run(
        self,
        member: str,
        decided: Done | Plan | Hold,
        now: datetime,
        ahead: Ahead = NOTHING_AHEAD,
    ) -> Fired:
        if isinstance(decided, Hold):
            self.store.hold(decided.incident, decided.muted, decided.due, now)
            said = f"held by {decided.muted.window.id} until {iso_z(decided.muted.until)}"
            return self.runner.done(member, Done("muted", said, Release()))
        if isinstance(decided, Done):
            return self.runner.done(member, decided)
        return self.runner.run(member, decided, now, ahead)

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        return self.run(member, self.decide(timer, now, ahead), now)
