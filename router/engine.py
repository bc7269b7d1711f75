"""What the workers and the scheduler do, in terms of the core, the store and the mailer.

Each entry point takes `now` from its caller: the task reads the clock once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import redis

from router.deadlines import data_day, past_deadlines
from router.events import Action, Event, EventIn, to_event
from router.incidents import Incident, Outcome
from router.mail.compose import Composer
from router.mail.delivery import Mailer
from router.rules import Rules
from router.store import IncidentStore
from router.timers import Timer, release
from router.times import iso_z

log = logging.getLogger(__name__)
_DAY_S = 86400


def new_id() -> str:
    return uuid.uuid4().hex


class Engine:
    def __init__(
        self, rules: Rules, client: redis.Redis, composer: Composer, mailer: Mailer
    ) -> None:
        self.rules, self.redis = rules, client
        self.store = IncidentStore(client, rules)
        self.composer, self.mailer = composer, mailer

    # -- events ------------------------------------------------------------------------
    def ingest(self, items: list[dict[str, Any]], now: datetime) -> list[Outcome]:
        """Items are {"event_id", "received_at", "event"} as the API queued them."""
        outcomes = []
        for item in items:
            received_at = datetime.fromisoformat(item["received_at"])
            event = to_event(EventIn.model_validate(item["event"]), self.rules, received_at)
            outcomes.append(self.apply(event, item["event_id"], now))
        return outcomes

    def apply(self, event: Event, event_id: str, now: datetime) -> Outcome:
        if event.type in self.rules.routing.paging.resolves:
            day = data_day(event, self.rules)
            self.redis.set(f"ar:ready:{event.pipeline}:{day}", event_id, ex=3 * _DAY_S)
        outcome = self.store.fold(event, now, new_id(), event_id)
        if outcome.decision.decision == "notify":
            self._notify(event, event_id, outcome, now)
        return outcome

    def _notify(self, event: Event, event_id: str, outcome: Outcome, now: datetime) -> None:
        links = [link.href for link in event.links]
        for recipient in outcome.decision.recipients:
            message = self.composer.notice(
                event_id,
                event.pipeline,
                event.summary,
                links,
                str(event.details.get("data_date") or data_day(event, self.rules)),
                recipient,
            )
            self.mailer.deliver(message, now)

    # -- acknowledge / resolve from the API ----------------------------------------------
    def act(self, incident: Incident, action: Action, by: str, now: datetime) -> Outcome:
        event = Event(
            pipeline=incident.pipeline,
            type=incident.type,
            summary="",
            severity=None,
            action=action,
            dedup_key=incident.dedup_key,
            occurred_at=now,
            source=by,
            details={},
            links=[],
        )
        return self.store.fold(event, now, new_id(), f"api-{new_id()}")

    # -- timers ----------------------------------------------------------------------------
    def fire(self, member: str, now: datetime) -> str:
        """Send one escalation step; returns what happened, for logs and tests."""
        timer = Timer.parse(member)
        incident = self.store.get(timer.incident)
        if incident is None or incident.deliver_at is None:
            release(self.redis, member)
            return "stale: no such incident"
        if incident.status != "triggered":
            release(self.redis, member)
            return f"nothing: incident {incident.status}"
        plan = incident.escalation
        index = next(
            (n for n, s in enumerate(plan) if (s.round, s.step) == (timer.round, timer.step)),
            None,
        )
        if index is None:
            release(self.redis, member)
            return "stale: step not in plan"
        step = plan[index]
        if now < incident.deliver_at + timedelta(seconds=step.after_s):
            return "early"  # leave the lease: it is claimed again when due
        kind = "escalation" if index else ("deferred" if incident.decision == "defer" else "page")
        earlier = [name for s in plan[:index] for name in s.notify]
        busy = False
        for name in step.notify:
            message = self.composer.incident_message(
                kind, incident, name, step.round, step.step, earlier
            )
            result, detail = self.mailer.deliver(message, now)
            busy = busy or result == "busy"
            if result in ("sent", "failed"):
                self.store.note(
                    incident.id,
                    now,
                    "message" if result == "sent" else "message failed",
                    to=name,
                    email=message.to[0],
                    message=kind,
                    round=step.round,
                    step=step.step,
                    detail=detail,
                )
        if not busy:
            release(self.redis, member)
        return "busy" if busy else f"sent {kind} to {', '.join(step.notify)}"

    # -- deadlines -------------------------------------------------------------------------
    def deadline_events(self, now: datetime) -> list[dict[str, Any]]:
        """Queue items for deadlines missed today, each raised once (SET NX)."""
        items = []
        for due in past_deadlines(self.rules, now):
            expects = due.deadline.expects
            if self.redis.exists(f"ar:ready:{due.pipeline}:{due.day}"):
                continue
            marker = f"ar:deadline:{due.pipeline}:{due.day}:{expects}"
            if not self.redis.set(marker, iso_z(now), nx=True, ex=3 * _DAY_S):
                continue
            local = self.composer.local(due.at)
            event = EventIn(
                pipeline=due.pipeline,
                type=due.deadline.raises,
                summary=f"{due.deadline.name}: no {expects} for {due.day} by {local}",
                dedup_key=f"{due.pipeline}/{due.deadline.raises}/{due.day}",
                occurred_at=due.at,
                source="alert-router deadline",
                details={"data_date": str(due.day)},
            )
            items.append(
                {
                    "event_id": new_id(),
                    "received_at": iso_z(now),
                    "event": event.model_dump(mode="json", exclude_none=True),
                }
            )
        return items
