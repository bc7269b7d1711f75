"""The incident lifecycle as a pure fold: (open incidents, event, now) -> (open, decision).

Dedup follows PagerDuty: a trigger whose dedup key has an open (triggered or
acknowledged) incident is folded into it; acknowledge and resolve of an unknown key are
dropped; after a resolve the same key opens a new incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from router.decide import Decision, decide, no_action
from router.events import Event
from router.rules import Rules
from router.rules.routing import Severity
from router.times import iso_z

Status = Literal["triggered", "acknowledged", "resolved"]


class Incident(BaseModel):
    model_config = ConfigDict(frozen=True)

    dedup_key: str
    pipeline: str
    type: str
    severity: Severity
    category: str | None
    status: Status
    opened_at: datetime
    events: int = 1


OpenIncidents = Mapping[str, Incident]


def apply_event(
    book: OpenIncidents, event: Event, rules: Rules, now: datetime
) -> tuple[dict[str, Incident], Decision]:
    """Returns the new set of open incidents (keyed by dedup key) and the decision."""
    after = dict(book)
    current = after.get(event.dedup_key)
    if event.action != "trigger":
        if current is None:
            return after, no_action(
                event,
                rules,
                f"No open incident has dedup key "
                f"{event.dedup_key!r}: the {event.action} is dropped.",
            )
        kept = (current.severity, current.category)
        if event.action == "resolve":
            del after[event.dedup_key]
            return after, no_action(
                event, rules, "Resolves the open incident: nothing more is sent for it.", *kept
            )
        if current.status == "acknowledged":
            return after, no_action(event, rules, "The incident was already acknowledged.", *kept)
        after[event.dedup_key] = current.model_copy(update={"status": "acknowledged"})
        return after, no_action(
            event, rules, "Acknowledges the open incident: escalation stops.", *kept
        )

    resolves = rules.routing.paging.resolves.get(event.type)
    if resolves is not None:
        closed = sorted(
            key
            for key, incident in after.items()
            if incident.pipeline == event.pipeline and incident.type in resolves
        )
        for key in closed:
            del after[key]
        said = f"resolves {', '.join(closed)}" if closed else "finds nothing open to resolve"
        return after, no_action(event, rules, f"{event.type} is a lifecycle event: it {said}.")

    if current is not None:
        after[event.dedup_key] = current.model_copy(update={"events": current.events + 1})
        return after, no_action(
            event,
            rules,
            f"Folded into the {current.status} incident opened at {iso_z(current.opened_at)} "
            f"({current.events + 1} events): nothing new is sent.",
            current.severity,
            current.category,
        )

    decision = decide(event, rules, now)
    if decision.decision != "notify":
        after[event.dedup_key] = Incident(
            dedup_key=event.dedup_key,
            pipeline=event.pipeline,
            type=event.type,
            severity=decision.severity,
            category=decision.category,
            status="triggered",
            opened_at=now,
        )
    return after, decision
