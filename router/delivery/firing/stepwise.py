"""The handler of the timers that fire an escalation step's work (step, push): the step
the timer is for, then the kind's own pure decision. During a maintenance window over
the incident, a step holds the escalation until the window's end and a push waits for
that end (router.core.maintenance)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from router.core.digest import PageBudget
from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.times import iso_z
from router.delivery.firing.due import DueStep, Hold, due_step
from router.delivery.firing.plan import (
    Digested,
    Done,
    Fired,
    Plan,
    ReadAhead,
    Release,
    Reschedule,
)
from router.delivery.firing.run import NOTHING_AHEAD, Ahead, Runner
from router.state.digests import Digests
from router.state.store import IncidentStore
from router.state.timers import Timer


class Decide(Protocol):
    def __call__(
        self,
        found: DueStep,
        incident: Incident,
        rules: Rules,
        now: datetime,
        budget: PageBudget | None = None,
    ) -> Plan: ...


class DueStepHandler:
    def __init__(
        self,
        decide: Decide,
        store: IncidentStore,
        runner: Runner,
        digests: Digests,
        *,
        holds: bool,
    ) -> None:
        """`holds`: the kind holds the escalation during a window (step), rather than
        wait for the window's end (push)."""
        self.decide_step, self.store, self.runner = decide, store, runner
        self.digests, self.holds = digests, holds

    def decide(self, timer: Timer, now: datetime, ahead: ReadAhead) -> Done | Plan | Hold:
        if timer.incident in ahead.incidents:
            incident = ahead.incidents[timer.incident]
        else:
            incident = self.store.get(timer.incident)
        found = due_step(timer, incident, now)
        if isinstance(found, Done):
            return found
        assert incident is not None
        muted = ahead.rules.muting(incident.pipeline, incident.type, incident.severity, now)
        if muted is None:
            return self.decide_step(found, incident, ahead.rules, now, ahead.budget)
        if self.holds:
            return Hold(incident.id, found.due)
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
            muted = self.store.hold(decided.incident, decided.due, now)
            if muted is None:  # the window ended since the task read the rules: it goes
                return self.runner.done(member, Done("early", "", Reschedule(now.timestamp())))
            said = f"held by {muted.window.id} until {iso_z(muted.until)}"
            return self.runner.done(member, Done("muted", said, Release()))
        if isinstance(decided, Done):
            return self.runner.done(member, decided)
        if decided.digest:
            self._hold(decided.digest, now)
        return self.runner.run(member, decided, now, ahead)

    def _hold(self, digested: tuple[Digested, ...], now: datetime) -> None:
        """The pages held for digests, each with a line on its incident's timeline, as one
        MULTI before the step's sends (a crash after it: the step fires again, and its
        pages are in the digest once each, though the timeline may say so twice)."""
        with self.store.redis.pipeline() as pipe:
            for each in digested:
                held = each.held
                self.digests.hold_on(pipe, each.person, held)
                self.store.note_on(
                    pipe, held.incident, now, "digested", to=each.person,
                    round=held.round, step=held.step,
                )  # fmt: skip
            pipe.execute()

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        return self.run(member, self.decide(timer, now, ahead), now)
