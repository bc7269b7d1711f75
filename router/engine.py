"""What the workers and the scheduler do, in terms of the core, the store and the mailer.

Each entry point takes `now` from its caller: the task reads the clock once.
"""

from __future__ import annotations

import json
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
from router.mail.message import OutgoingMessage
from router.rotation import shift_at
from router.rules import Rules
from router.store import IncidentStore
from router.timers import Timer, release, schedule_in
from router.times import iso_z

log = logging.getLogger(__name__)
_DAY_S = 86400
_HANDOFF_FRESH = timedelta(hours=1)


def _first_kind(incident: Incident) -> str:
    if incident.decision == "defer":
        return "deferred"
    return "data_late" if incident.type == "data_late" else "page"


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
        """Items are {"event_id", "received_at", "event"} as the API queued them.

        Safe to run again after a failure: events already folded are skipped."""
        outcomes = []
        for item in items:
            received_at = datetime.fromisoformat(item["received_at"])
            event = to_event(EventIn.model_validate(item["event"]), self.rules, received_at)
            outcome = self.apply(event, item["event_id"], now)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def apply(self, event: Event, event_id: str, now: datetime) -> Outcome | None:
        if event.type in self.rules.routing.paging.resolves:
            day = data_day(event, self.rules)
            self.redis.set(f"ar:ready:{event.pipeline}:{day}", event_id, ex=3 * _DAY_S)
        outcome = self.store.fold(event, now, new_id(), event_id)
        if outcome is None:
            return None
        if outcome.decision.decision == "notify":
            self._notify(event, event_id, outcome, now)
        for incident in outcome.changed:
            if incident.status == "resolved":
                self.announce_resolved(incident.id, now)
        return outcome

    def _notify(self, event: Event, event_id: str, outcome: Outcome, now: datetime) -> None:
        links = [link.href for link in event.links]
        day = str(data_day(event, self.rules))
        pipeline = self.rules.pipeline(event.pipeline)
        for recipient in outcome.decision.recipients:
            message = self.composer.report_ready(
                event_id, pipeline, event.summary, links, day, recipient
            )
            self.queue_message(message, now)

    def announce_resolved(self, incident_id: str, now: datetime) -> int:
        """Tell everyone who was paged for a resolved incident; returns how many."""
        incident = self.store.get(incident_id)
        if incident is None or incident.status != "resolved":
            return 0
        paged: list[str] = []
        for entry in self.store.timeline(incident_id):
            if entry["kind"] == "message" and entry["to"] not in paged:
                paged.append(entry["to"])
        for name in paged:
            message = self.composer.incident_message(
                "resolved", incident, name, None, now, key=f"{incident.id}:resolved:{name}"
            )
            self.queue_message(message, now, incident_id=incident.id, recipient=name)
        return len(paged)

    def queue_message(
        self,
        message: OutgoingMessage,
        now: datetime,
        incident_id: str | None = None,
        recipient: str | None = None,
    ) -> None:
        """Keep a notice in Redis with a timer due now: a worker sends it, and retries it
        after a transient failure, like an escalation step."""
        stem = message.file_stem()
        stored = {"message": message.model_dump(), "incident": incident_id, "to": recipient}
        with self.redis.pipeline() as pipe:
            pipe.set(f"ar:message:{stem}", json.dumps(stored), ex=7 * _DAY_S)
            schedule_in(pipe, Timer(kind="msg", incident=stem, round=0, step=0), now.timestamp())
            pipe.execute()

    def _fire_message(self, member: str, stem: str, now: datetime) -> str:
        raw = self.redis.get(f"ar:message:{stem}")
        if raw is None:
            release(self.redis, member)
            return "stale: no such message"
        stored = json.loads(raw)
        message = OutgoingMessage.model_validate(stored["message"])
        incident = self.store.get(stored["incident"]) if stored["incident"] else None
        if incident is not None:
            result = self._send_and_note(message, incident, stored["to"], now, None, None)
        else:
            result, _ = self.mailer.deliver(message, now)
        if result == "busy":
            return "busy"
        release(self.redis, member)
        self.redis.delete(f"ar:message:{stem}")
        return f"{result}: {message.kind} to {', '.join(message.to)}"

    def _send_and_note(
        self,
        message: OutgoingMessage,
        incident: Incident,
        name: str,
        now: datetime,
        round_no: int | None,
        step_no: int | None,
    ) -> str:
        """Deliver once; what was sent or failed for good goes on the incident's timeline."""
        result, detail = self.mailer.deliver(message, now)
        if result in ("sent", "failed"):
            self.store.note(
                incident.id,
                now,
                "message" if result == "sent" else "message failed",
                to=name,
                email=message.to[0],
                message=message.kind,
                round=round_no,
                step=step_no,
                detail=detail,
            )
        return result

    # -- acknowledge / resolve from the API ----------------------------------------------
    def act(self, incident: Incident, action: Action, by: str, now: datetime) -> Outcome | None:
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
        if timer.kind == "msg":
            return self._fire_message(member, timer.incident, now)
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
        kind = _first_kind(incident) if index == 0 else "escalation"
        busy = False
        for name in step.notify:
            key = f"{incident.id}:{step.round}:{step.step}:{name}"
            message = self.composer.incident_message(kind, incident, name, index, now, key=key)
            result = self._send_and_note(message, incident, name, now, step.round, step.step)
            busy = busy or result == "busy"
        if not busy:
            release(self.redis, member)
        return "busy" if busy else f"sent {kind} to {', '.join(step.notify)}"

    # -- on-call handoffs ---------------------------------------------------------------
    def handoff_due(self, now: datetime) -> str | None:
        """The start of a shift that began in the last hour and is not yet announced."""
        shift = shift_at(now, self.rules)
        if now - shift.start > _HANDOFF_FRESH:
            return None
        start = shift.start.isoformat()
        if not self.redis.set(f"ar:handoff:{start}", iso_z(now), nx=True, ex=30 * _DAY_S):
            return None
        return start

    def send_handoff(self, start_iso: str, now: datetime) -> list[str]:
        """Email the incoming and the outgoing engineer of the shift starting then."""
        start = datetime.fromisoformat(start_iso)
        incoming = shift_at(start, self.rules)
        outgoing = shift_at(start - timedelta(microseconds=1), self.rules)
        if incoming.engineer == outgoing.engineer:
            return []
        for person in (incoming, outgoing):
            self.queue_message(self.composer.handoff(incoming, outgoing, person), now)
        return [incoming.engineer, outgoing.engineer]

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
            pipeline = self.rules.pipeline(due.pipeline)
            at = self.composer.local(due.at, "%H:%M %Z")
            event = EventIn(
                pipeline=due.pipeline,
                type=due.deadline.raises,
                summary=f"{pipeline.name} data for {due.day} not ready by {at}",
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
