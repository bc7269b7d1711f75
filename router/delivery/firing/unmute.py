"""The end of a maintenance window for one incident: decided again if the window
suppressed it, its escalation resumed if the window held it (router.core.fold.plan_unmute,
written by the store in one transaction with the timers it sets)."""

from __future__ import annotations

from datetime import datetime

from router.delivery.firing.plan import Done, Fired, ReadAhead, Release
from router.delivery.firing.run import Runner
from router.state.store import IncidentStore
from router.state.timers import Timer


class UnmuteHandler:
    def __init__(self, store: IncidentStore, runner: Runner) -> None:
        self.store, self.runner = store, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        changed = self.store.unmute(timer.incident, now)
        if changed is None:
            done = Done("nothing", "nothing to decide again", Release())
        else:
            done = Done("sent", f"after the window: {changed.decision}", Release())
        return self.runner.done(member, done)
