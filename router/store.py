"""Incidents in Redis: the fold of an event is one optimistic transaction per pipeline.

Keys (prefix `ar:`):
  incident:{id}        the incident, JSON
  open:{pipeline}      hash dedup key -> id of that pipeline's open incidents (WATCHed)
  open:{pipeline}:{type}  the same, by type, for data_ready to find what it resolves
  status:{status}      sorted set of ids by opening time, for listings
  timeline:{id}        list of JSON entries: events, decisions, messages, ack, resolve
  seen:{event_id}      set with the fold: a retried batch folds no event twice
  timers / leased      see router.timers
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from router.events import Event
from router.incidents import Incident, Outcome, Status, apply_event
from router.rules import Rules
from router.timers import Timer, schedule_in
from router.times import iso_z

STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "resolved")
_SEEN_S = 7 * 86400  # longer than any task retry


def _incident_key(incident_id: str) -> str:
    return f"ar:incident:{incident_id}"


def _open_key(pipeline: str) -> str:
    return f"ar:open:{pipeline}"


def _open_type_key(pipeline: str, event_type: str) -> str:
    return f"ar:open:{pipeline}:{event_type}"


def timeline_key(incident_id: str) -> str:
    return f"ar:timeline:{incident_id}"


def entry(now: datetime, kind: str, **fields: Any) -> str:
    return json.dumps({"at": iso_z(now), "kind": kind, **fields}, sort_keys=True)


class IncidentStore:
    def __init__(self, client: redis.Redis, rules: Rules) -> None:
        self.redis = client
        self.rules = rules

    def fold(self, event: Event, now: datetime, new_id: str, event_id: str) -> Outcome | None:
        """Apply one event atomically: concurrent events of one pipeline retry, never race.

        None when this event id was folded before (a retried task), so nothing is twice."""
        open_key, seen_key = _open_key(event.pipeline), f"ar:seen:{event_id}"
        while True:
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(open_key, seen_key)  # type: ignore[no-untyped-call]
                    if pipe.exists(seen_key):
                        return None
                    book = {i.dedup_key: i for i in self._load(pipe, self._relevant(pipe, event))}
                    outcome = apply_event(book, event, self.rules, now, new_id)
                    pipe.multi()
                    self._write(pipe, outcome, event, now, event_id)
                    pipe.set(seen_key, 1, ex=_SEEN_S)
                    pipe.execute()
                    return outcome
                except redis.WatchError:
                    continue

    def _relevant(self, pipe: Any, event: Event) -> list[Any]:
        """Ids of the open incidents this event can touch: its own key's, and for a
        lifecycle event (data_ready) those of the types it resolves. Never the whole book."""
        ids = [pipe.hget(_open_key(event.pipeline), event.dedup_key)]
        for event_type in self.rules.routing.paging.resolves.get(event.type, []):
            ids.extend(pipe.hvals(_open_type_key(event.pipeline, event_type)))
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
        opened = outcome.opened
        if opened is not None and opened.deliver_at is not None:
            for step in opened.escalation:
                timer = Timer(incident=opened.id, round=step.round, step=step.step)
                schedule_in(pipe, timer, opened.deliver_at.timestamp() + step.after_s)

    def put(self, pipe: Any, incident: Incident) -> None:
        pipe.set(_incident_key(incident.id), incident.model_dump_json())
        for index in (
            _open_key(incident.pipeline),
            _open_type_key(incident.pipeline, incident.type),
        ):
            if incident.is_open:
                pipe.hset(index, incident.dedup_key, incident.id)
            else:
                pipe.hdel(index, incident.dedup_key)
        for status in STATUSES:
            if status != incident.status:
                pipe.zrem(f"ar:status:{status}", incident.id)
        pipe.zadd(f"ar:status:{incident.status}", {incident.id: incident.opened_at.timestamp()})

    def _load(self, client: Any, ids: list[Any]) -> list[Incident]:
        if not ids:
            return []
        names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        raw = client.mget([_incident_key(name) for name in names])
        return [Incident.model_validate_json(item) for item in raw if item is not None]

    def get(self, incident_id: str) -> Incident | None:
        raw = self.redis.get(_incident_key(incident_id))
        return Incident.model_validate_json(raw) if raw is not None else None

    def timeline(self, incident_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(timeline_key(incident_id), 0, -1)]

    def note(self, incident_id: str, now: datetime, kind: str, **fields: Any) -> None:
        self.redis.rpush(timeline_key(incident_id), entry(now, kind, **fields))

    def listing(self, status: Status | None, limit: int = 200) -> list[Incident]:
        statuses = [status] if status else list(STATUSES)
        ids: list[Any] = []
        for name in statuses:
            ids.extend(self.redis.zrevrange(f"ar:status:{name}", 0, limit - 1))
        incidents = self._load(self.redis, ids)
        return sorted(incidents, key=lambda i: i.opened_at, reverse=True)[:limit]
