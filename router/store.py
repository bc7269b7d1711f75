"""Incidents in Redis: the fold of an event is one optimistic transaction per pipeline.

Everything the fold causes (the incident, its timeline, its escalation timers, the
resolved-notice timer, the caller's `effects` such as report-ready notices, and the
`seen` marker that stops a retry) is written in that one MULTI/EXEC. Key layout:
router.keys.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis

from router import keys
from router.events import Event
from router.incidents import Incident, Outcome, Status, apply_event
from router.rules import Rules
from router.timers import Timer, schedule_in
from router.times import iso_z

STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "resolved")
_SEEN_S = 7 * 86400  # longer than any redelivery
MAX_FOLD_TRIES = 50  # conflicts on one pipeline before the fold gives up

Effects = Callable[[Any, Outcome], None]
"""Writes more on the fold's MULTI pipeline, given what the fold did."""


class FoldConflict(Exception):
    """Other workers kept changing the pipeline's incidents; the task retries later."""


def timeline_key(incident_id: str) -> str:
    return keys.timeline(incident_id)


def entry(now: datetime, kind: str, **fields: Any) -> str:
    return json.dumps({"at": iso_z(now), "kind": kind, **fields}, sort_keys=True)


class IncidentStore:
    def __init__(self, client: redis.Redis, rules: Rules) -> None:
        self.redis = client
        self.rules = rules

    def fold(
        self,
        event: Event,
        now: datetime,
        new_id: str,
        event_id: str,
        effects: Effects | None = None,
    ) -> Outcome | None:
        """Apply one event atomically: concurrent events of one pipeline retry, never race.

        None when this event id was folded before (a retried task), so nothing is twice.
        Conflicts are retried with a short random back-off, MAX_FOLD_TRIES times at most."""
        open_key, seen_key = keys.open_index(event.pipeline), keys.seen(event_id)
        for attempt in range(MAX_FOLD_TRIES):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(open_key, seen_key)  # type: ignore[no-untyped-call]
                    if pipe.exists(seen_key):
                        return None
                    book = {i.dedup_key: i for i in self._load(pipe, self._relevant(pipe, event))}
                    outcome = apply_event(book, event, self.rules, now, new_id)
                    pipe.multi()
                    self._write(pipe, outcome, event, now, event_id)
                    if effects is not None:
                        effects(pipe, outcome)
                    pipe.set(seen_key, 1, ex=_SEEN_S)
                    pipe.execute()
                    return outcome
                except redis.WatchError:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise FoldConflict(f"{event.pipeline}: {MAX_FOLD_TRIES} conflicting folds in a row")

    def _relevant(self, pipe: Any, event: Event) -> list[Any]:
        """Ids of the open incidents this event can touch: its own key's, and for a
        lifecycle event (data_ready) those of the types it resolves. Never the whole book."""
        ids = [pipe.hget(keys.open_index(event.pipeline), event.dedup_key)]
        for event_type in self.rules.routing.paging.resolves.get(event.type, []):
            ids.extend(pipe.hvals(keys.open_by_type(event.pipeline, event_type)))
        return [i for i in ids if i is not None]

    def _write(
        self, pipe: Any, outcome: Outcome, event: Event, now: datetime, event_id: str
    ) -> None:
        for incident in outcome.changed:
            self.put(pipe, incident)
            said = {
                "event_id": event_id,
                "action": event.action,
                "type": event.type,
                "summary": event.summary,
                "source": event.source,
            }
            pipe.rpush(timeline_key(incident.id), entry(now, "event", **said))
            if (
                incident is outcome.opened
                or incident.status == "resolved"
                or (incident.status == "acknowledged" and event.action == "acknowledge")
            ):
                pipe.rpush(
                    timeline_key(incident.id),
                    entry(
                        now,
                        "decision",
                        decision=outcome.decision.decision,
                        reason=outcome.decision.reason,
                    ),
                )
            if incident.status == "resolved":  # everyone paged is told, from the outbox
                notice = Timer(kind="resolved", incident=incident.id, round=0, step=0)
                schedule_in(pipe, notice, now.timestamp())
        opened = outcome.opened
        if opened is not None and opened.deliver_at is not None:
            for step in opened.escalation:
                timer = Timer(incident=opened.id, round=step.round, step=step.step)
                schedule_in(pipe, timer, opened.deliver_at.timestamp() + step.after_s)

    def put(self, pipe: Any, incident: Incident) -> None:
        pipe.set(keys.incident(incident.id), incident.model_dump_json())
        for index in (
            keys.open_index(incident.pipeline),
            keys.open_by_type(incident.pipeline, incident.type),
        ):
            if incident.is_open:
                pipe.hset(index, incident.dedup_key, incident.id)
            else:
                pipe.hdel(index, incident.dedup_key)
        for status in STATUSES:
            if status != incident.status:
                pipe.zrem(keys.status(status), incident.id)
        pipe.zadd(keys.status(incident.status), {incident.id: incident.opened_at.timestamp()})

    def _load(self, client: Any, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        raw = client.mget([keys.incident(name) for name in names])
        return [Incident.model_validate_json(item) for item in raw if item is not None]

    def get(self, incident_id: str) -> Incident | None:
        raw = self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw is not None else None

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(timeline_key(incident_id), 0, -1)]

    def note(self, incident_id: str, now: datetime, kind: str, **fields: Any) -> None:
        self.redis.rpush(timeline_key(incident_id), entry(now, kind, **fields))

    def listing(self, status: Status | None, limit: int = 200) -> list[Incident]:
        statuses = [status] if status else list(STATUSES)
        ids: list[Any] = []
        for name in statuses:
            ids.extend(self.redis.zrevrange(keys.status(name), 0, limit - 1))
        incidents = self._load(self.redis, ids)
        return sorted(incidents, key=lambda i: i.opened_at, reverse=True)[:limit]
