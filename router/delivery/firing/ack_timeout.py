"""An acknowledgement's timeout: triggered again if still acknowledged and not snoozed
past now; a snooze moved this timer, so an early one is left for its new due time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from router.core.incidents import Incident
from router.delivery.firing.plan import Done, Fired, ReadAhead, Release, Reschedule
from router.delivery.firing.run import Runner
from router.state.store import IncidentStore
from router.state.timers import Timer


@dataclass(frozen=True)
class Retrigger:
    """Ask the store to trigger the incident again (it checks again, in its transaction):
    `then` if it did, `otherwise` if there was nothing to do."""

    then: Done
    otherwise: Done


def decide(incident: Incident | None, now: datetime) -> Done | Retrigger:
    if incident is None:
        return Done("stale", "no such incident", Release())
    nothing = Done("nothing", f"incident {incident.status}", Release())
    if incident.status != "acknowledged" or incident.ack_expires_at is None:
        return nothing
    if now < incident.ack_expires_at:
        return Done("early", "snoozed", Reschedule(incident.ack_expires_at.timestamp()))
    again = Done("sent", "acknowledgement timed out: triggered again", Release())
    return Retrigger(again, nothing)


class AckTimeoutHandler:
    def __init__(self, store: IncidentStore, runner: Runner) -> None:
        self.store, self.runner = store, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        decided = decide(self.store.get(timer.incident), now)
        if isinstance(decided, Retrigger):
            again = self.store.retrigger(timer.incident, now) is not None
            decided = decided.then if again else decided.otherwise
        return self.runner.done(member, decided)
