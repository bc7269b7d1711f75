"""The one writer of plans (router.core.fold): a plan becomes commands on one MULTI.

Everything a fold or an action causes travels in its transaction: the incidents and
their indexes, the timeline entries, the timers (those due now leased and their fire
tasks queued), the chat lines, the report notices, the `data_ready`, `seen` and
maintenance `muted` markers, and the counts. Key layout: router.state.keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import msgspec

from router.core.fold import Counted, Plan, ReportReady
from router.core.incidents import Incident, Status
from router.core.message import OutgoingMessage
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline
from router.state import audit, keys, metrics, outbox, stream
from router.state.pipe import Pipe
from router.state.stream import line_for, opened_line
from router.state.timers import Timer, fire_now, schedule_all_in


class Composer(Protocol):
    """Renders a plan's report notices: router.delivery.mail.compose.Composer, which sits
    above this layer (it reads the store for the buttons' actions)."""

    def report_ready(
        self,
        event_id: str,
        pipeline: Pipeline,
        summary: str,
        links: list[str],
        data_date: str,
        recipient: str,
    ) -> OutgoingMessage: ...

    def report_delayed(
        self,
        pipeline: Pipeline,
        data_date: str,
        recipient: str,
        blockers: list[Incident],
        estimate: str | None,
    ) -> OutgoingMessage: ...


STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "resolved")

SEEN_S = 7 * 86400  # longer than any redelivery
READY_KEEP_S = 16 * 86400  # past the longest maintenance window: its deadlines are
# judged at its end (router.core.deadlines)
MUTED_KEEP_S = 21 * 86400  # past the longest window (14 days) and its summary
_ENTRY = msgspec.json.Encoder(order="sorted")  # as router.state.store.entry writes the others


def set_value(pipe: Pipe, key: str, value: str | int, ex_s: int | None = None) -> None:
    """SET without redis-py's `set()`: its argument checks cost more than the command
    in a fold that writes a thousand markers (bench profile, docs/benchmarks.md)."""
    if ex_s is None:
        pipe.execute_command("SET", key, value)
    else:
        pipe.execute_command("SET", key, value, "EX", ex_s)


def put_incident(pipe: Pipe, incident: Incident, before: Status | None) -> None:
    put_incidents(pipe, [(incident, before)])


def put_incidents(pipe: Pipe, changed: Iterable[tuple[Incident, Status | None]]) -> None:
    """Each incident and, when its status changed from `before` (None: it is new), its
    indexes: open by dedup key and by type, by status. A fold into an open incident
    changes its JSON only. The index commands of all of them go grouped by key (a
    batch of new incidents: four commands, not four each); removals before additions,
    so a dedup key closed and opened again in one batch points at the open incident."""
    opened: dict[str, dict[str, str]] = {}
    closed: dict[str, list[str]] = {}
    left: dict[str, list[str]] = {}
    entered: dict[str, dict[str, float]] = {}
    for incident, before in changed:
        set_value(pipe, keys.incident(incident.id), incident.model_dump_json())
        if before == incident.status:
            continue
        for index in (
            keys.open_index(incident.pipeline),
            keys.open_by_type(incident.pipeline, incident.type),
        ):
            if incident.is_open:
                opened.setdefault(index, {})[incident.dedup_key] = incident.id
            else:
                closed.setdefault(index, []).append(incident.dedup_key)
        opened_ts = incident.opened_at.timestamp()
        if before is not None:
            left.setdefault(keys.status(before), []).append(incident.id)
            left.setdefault(keys.pipeline_status(incident.pipeline, before), []).append(incident.id)
        entered.setdefault(keys.status(incident.status), {})[incident.id] = opened_ts
        by_pipeline = keys.pipeline_status(incident.pipeline, incident.status)
        entered.setdefault(by_pipeline, {})[incident.id] = opened_ts
    for index, dedup_keys in closed.items():
        pipe.hdel(index, *dedup_keys)
    for index, ids in opened.items():
        pipe.hset(index, items=[word for pair in ids.items() for word in pair])
    for status, ids_left in left.items():
        pipe.zrem(status, *ids_left)
    for status, scores in entered.items():
        pipe.zadd(status, scores)


class PlanWriter:
    def __init__(self, rules: Rules, composer: Composer | None, lease_s: float) -> None:
        """`composer` renders the plan's report notices (a plan with notices needs one);
        `lease_s`: how long a timer fired at once is leased (router.state.timers.fire_now)."""
        self.rules, self.composer, self.lease_s = rules, composer, lease_s

    def write(self, pipe: Pipe, plan: Plan, now: datetime) -> None:
        changed = {incident.pipeline for incident in plan.incidents.values()}
        put_incidents(
            pipe, [(incident, plan.before[incident.id]) for incident in plan.incidents.values()]
        )
        for incident_id, entries in plan.timeline.items():
            pipe.rpush(keys.timeline(incident_id), *[_ENTRY.encode(e) for e in entries])
        due_now: list[Timer] = []
        due_later: dict[Timer, float] = {}
        for due in plan.timers:
            timer = Timer(kind=due.kind, incident=due.incident, round=due.round, step=due.step)
            if due.at is None:
                due_now.append(timer)
            else:
                due_later[timer] = due.at.timestamp()
        schedule_all_in(pipe, due_later)
        for chat in plan.chats:  # their timers are among the plan's, due at once
            if chat.change == "triggered":
                line = opened_line(chat.incident, self.rules.team.zone)
            else:
                line = line_for(chat.incident, chat.change, chat.who, chat.detail)
            stream.append(pipe, line)
        self._notices(pipe, plan, now)
        for muted in plan.muted:
            key = keys.muted(muted.window, muted.since.timestamp())
            pipe.sadd(key, muted.incident)
            pipe.expire(key, MUTED_KEEP_S)
        for marker in plan.ready:
            ready = keys.ready(marker.pipeline, marker.day, marker.type)
            set_value(pipe, ready, marker.event_id, READY_KEEP_S)
        seen: dict[str, list[str]] = {}
        for arrival in plan.seen:
            changed.add(arrival.event.pipeline)
            seen.setdefault(keys.seen_on(arrival.event.pipeline, arrival.received_at), []).append(
                arrival.event_id
            )
        for key, event_ids in seen.items():
            pipe.hset(key, items=[word for event_id in event_ids for word in (event_id, 1)])
            pipe.expire(key, SEEN_S)
        for pipeline in sorted(changed):
            pipe.incr(keys.pipeline_version(pipeline))
        fire_now(pipe, due_now, now.timestamp(), self.lease_s)
        _count(pipe, plan.counted)
        for done in plan.audit:
            audit.append(pipe, audit.incident_entry(done))

    def _notices(self, pipe: Pipe, plan: Plan, now: datetime) -> None:
        if not plan.notices:
            return
        composer = self.composer
        if composer is None:
            raise RuntimeError("a plan with report notices needs a composer")
        for notice in plan.notices:
            if isinstance(notice, ReportReady):
                event = notice.event
                links = [link.href for link in event.links]
                message = composer.report_ready(
                    notice.event_id, notice.pipeline, event.summary, links, notice.day,
                    notice.recipient,
                )  # fmt: skip
                if notice.blockers:  # released when the last blocker resolves (firing)
                    outbox.hold(pipe, message, [blocker.id for blocker in notice.blockers])
                else:
                    outbox.put(pipe, message, now)
                continue
            delayed = composer.report_delayed(
                notice.pipeline, notice.day, notice.recipient, notice.blockers, notice.estimate
            )
            outbox.put(pipe, delayed, now)


def _count(pipe: Pipe, counted: Counter[Counted]) -> None:
    """Metrics for the plan, a few HINCRBYs in its MULTI (not one per event)."""
    decisions: Counter[str] = Counter()
    events: Counter[tuple[str, str, str]] = Counter()
    for (source, pipeline, severity, decision), n in counted.items():
        events[source, pipeline, severity] += n
        decisions[decision] += n
    for (source, pipeline, severity), n in events.items():
        labels = {"source": source, "pipeline": pipeline, "severity": severity}
        metrics.count(pipe, "router_events", labels, n)
    for decision, n in decisions.items():
        metrics.count(pipe, "router_decisions", {"decision": decision}, n)
