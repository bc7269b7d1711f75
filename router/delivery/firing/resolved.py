"""A resolved incident: everyone paged for it is told, with its notes, and the report
notices it held are released (router.state.outbox.hold)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis

from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.timeline import Line, notes
from router.delivery.firing import records
from router.delivery.firing.plan import Done, Fired, IncidentEmail, Plan, ReadAhead, Release, Send
from router.delivery.firing.run import Runner
from router.state import outbox
from router.state.store import IncidentStore
from router.state.timers import Timer


def decide(incident: Incident, timeline: Sequence[Line], rules: Rules) -> Plan:
    """`timeline`: the incident's lines, oldest first; `rules` say where people are
    emailed."""
    paged: list[str] = []
    for line in timeline:
        if line.kind == "message" and line.to is not None and line.to not in paged:
            paged.append(line.to)
    sends = tuple(
        Send(
            IncidentEmail("resolved", incident, name, None, tuple(notes(timeline))),
            f"{incident.id}:resolved:{name}",
            records.message(
                incident.id, name, str(rules.team.engineer(name).email), "resolved", None, None
            ),
        )
        for name in paged
    )
    return Plan(said=f"resolved to {', '.join(paged) or 'nobody'}", sends=sends)


class ResolvedHandler:
    def __init__(
        self, client: redis.Redis, store: IncidentStore, rules: Rules, runner: Runner
    ) -> None:
        """`rules`: the loaded rules, as the composer addresses by them (a run-time
        roster changes no address)."""
        self.redis, self.store, self.rules, self.runner = client, store, rules, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        incident = self.store.get(timer.incident)
        if incident is None:
            return self.runner.done(member, Done("stale", "no such incident", Release()))
        outbox.release(self.redis, incident.id, now)  # safe to run again
        timeline = self.store.lines(incident.id)
        return self.runner.run(member, decide(incident, timeline, self.rules), now)
