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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis

from router import keys, metrics
from router.channels import stream
from router.channels.stream import Change, line_for, opened_line
from router.events import Event
from router.incidents import Incident, Outcome, Status, apply_event, retrigger
from router.rules import Rules
from router.timers import Timer, fire_now, schedule_in
from router.times import iso_z

STATUSES: tuple[Status, ...] = ("triggered", "acknowledged", "resolved")
_SEEN_S = 7 * 86400  # longer than any redelivery
MAX_FOLD_TRIES = 50  # conflicts on one pipeline before the fold gives up


@dataclass(frozen=True)
class Hold:
    """Why a report_ready notice must wait: the open incidents blocking its report (on its
    pipeline or one it is built from), and the latest estimate in their notes."""

    blockers: list[Incident]
    estimate: str | None = None


Effects = Callable[[Any, Outcome, Hold | None], None]
"""Writes more on the fold's MULTI pipeline, given what the fold did (and, for a
report_ready notice, what holds it)."""


@dataclass(frozen=True)
class Fold:
    """One event to fold: its id (the `seen` marker), the id an incident it opens gets,
    and what else its fold writes."""

    event: Event
    event_id: str
    new_id: str
    effects: Effects | None = None


@dataclass
class _Writes:
    """What a batch writes once per incident: its last state, its timeline lines."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    timelines: dict[str, list[str]] = field(default_factory=dict)
    due_now: list[Timer] = field(default_factory=list)  # fired from this transaction

    def note(self, incident_id: str, line: str) -> None:
        self.timelines.setdefault(incident_id, []).append(line)


class FoldConflict(Exception):
    """Other workers kept changing the pipeline's incidents; the task retries later."""


def timeline_key(incident_id: str) -> str:
    return keys.timeline(incident_id)


def entry(now: datetime, kind: str, **fields: Any) -> str:
    return orjson.dumps(
        {"at": iso_z(now), "kind": kind, **fields}, option=orjson.OPT_SORT_KEYS
    ).decode()


def _set(pipe: Any, key: str, value: str | int, ex_s: int | None = None) -> None:
    """SET without redis-py's `set()`: its argument checks cost more than the command
    in a fold that writes a thousand markers (bench profile, docs/benchmarks.md)."""
    if ex_s is None:
        pipe.execute_command("SET", key, value)
    else:
        pipe.execute_command("SET", key, value, "EX", ex_s)


def _schedule_steps(pipe: Any, incident: Incident, now: datetime, due_now: list[Timer]) -> None:
    """The escalation's timers: steps due now are fired from the transaction (`due_now`),
    the others wait in the timer set."""
    if incident.deliver_at is None:
        return
    for step in incident.escalation:
        timer = Timer(incident=incident.id, round=step.round, step=step.step)
        due_ts = incident.deliver_at.timestamp() + step.after_s
        if due_ts <= now.timestamp():  # the first page: no wait for a scheduler tick
            due_now.append(timer)
        else:
            schedule_in(pipe, timer, due_ts)


def _schedule_actions(
    pipe: Any, incident: Incident, indexes: list[int], now: datetime, due_now: list[Timer]
) -> None:
    """A runbook's automatic actions go when the page does (at once, or at the next
    business-hours start for a deferred one): timer `action`, round = the action's index.
    An action that needs confirming waits for its button (router.api.runbook_actions)."""
    if incident.deliver_at is None:
        return
    for index in indexes:
        timer = Timer(kind="action", incident=incident.id, round=index, step=0)
        if incident.deliver_at <= now:
            due_now.append(timer)
        else:
            schedule_in(pipe, timer, incident.deliver_at.timestamp())


def _schedule_ack_timeout(pipe: Any, incident: Incident) -> None:
    """One timer per incident: a snooze moves it (ZADD updates the due time)."""
    if incident.ack_expires_at is not None:
        timer = Timer(kind="ack_timeout", incident=incident.id, round=0, step=0)
        schedule_in(pipe, timer, incident.ack_expires_at.timestamp())


def _count_folded(pipe: Any, counted: Counter[tuple[str, str, str, str]]) -> None:
    """Metrics for the batch, a few HINCRBYs in its MULTI (not one per event)."""
    decisions: Counter[str] = Counter()
    events: Counter[tuple[str, str, str]] = Counter()
    for (source, pipeline, severity, decision), n in counted.items():
        events[source, pipeline, severity] += n
        decisions[decision] += n
    for (source, pipeline, severity), n in events.items():
        metrics.count(
            pipe, "router_events", {"source": source, "pipeline": pipeline, "severity": severity}, n
        )
    for decision, n in decisions.items():
        metrics.count(pipe, "router_decisions", {"decision": decision}, n)


Position = tuple[float, str]
"""Where a listing's page ends: the last incident's opening time (its score) and id."""
_INDEX_CHUNK = 1000

# The ids after a position in each sorted set (KEYS) of one listing: the sets order equal
# scores by id, bytewise, so the position's rank is found by a binary search among the
# ids of its score. ARGV: score ('' for the start), id, how many.
_AFTER = """
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local score, member, n = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i, key in ipairs(KEYS) do
  local lo = 0
  if score ~= '' then
    lo = redis.call('ZCOUNT', key, '(' .. score, '+inf')
    local hi = lo + redis.call('ZCOUNT', key, score, score)
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if before(redis.call('ZREVRANGE', key, mid, mid)[1], member) then
        hi = mid
      else
        lo = mid + 1
      end
    end
  end
  out[i] = redis.call('ZREVRANGE', key, lo, lo + n - 1, 'WITHSCORES')
end
return out
"""

# Backfill of the per-pipeline status sets: KEYS[1] the status set, KEYS[1 + i] the
# pipeline set of ARGV[i]; each id is added with its score only while it is in KEYS[1].
_INDEX = """
local added = 0
for i, id in ipairs(ARGV) do
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score then added = added + redis.call('ZADD', KEYS[i + 1], score, id) end
end
return added
"""


def _listed(status: Status, pipeline: str | None) -> str:
    return keys.status(status) if pipeline is None else keys.pipeline_status(pipeline, status)


class IncidentStore:
    def __init__(
        self,
        client: redis.Redis,
        rules: Rules,
        lease_s: float = 60.0,
        current_rules: Callable[[], Rules] | None = None,
    ) -> None:
        """`lease_s`: how long a timer fired at once (router.timers.fire_now) is leased;
        `current_rules`: the rules with the run-time roster laid over (router.rosterstore),
        read once per fold, so a new absence changes the next page's recipient."""
        self.redis = client
        self.rules = rules
        self.lease_s = lease_s
        self.current_rules = current_rules or (lambda: rules)
        self._after = client.register_script(_AFTER)
        self._index = client.register_script(_INDEX)

    def fold(
        self,
        event: Event,
        now: datetime,
        new_id: str,
        event_id: str,
        effects: Effects | None = None,
    ) -> Outcome | None:
        """Apply one event atomically; None when its id was folded before."""
        return self.fold_many([Fold(event, event_id, new_id, effects)], now)[0]

    def fold_many(self, folds: list[Fold], now: datetime) -> list[Outcome | None]:
        """Apply events in order, all in one transaction: two pipelined reads, the pure
        fold in memory, one MULTI/EXEC. Concurrent folds of the same pipelines retry with
        a short random back-off, MAX_FOLD_TRIES times at most. An event whose id was
        folded before (a redelivered task) gets None and changes nothing."""
        watched = sorted(
            {keys.open_index(p) for f in folds for p in self._report_sources(f.event)}
            | {keys.open_index(f.event.pipeline) for f in folds}
        )
        watched += [keys.seen(f.event_id) for f in folds]
        for attempt in range(MAX_FOLD_TRIES):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*watched)  # type: ignore[no-untyped-call]
                    outcomes = self._plan(folds, now)
                    holds = self._holds(folds, outcomes)
                    pipe.multi()
                    writes = _Writes()
                    counted: Counter[tuple[str, str, str, str]] = Counter()
                    for fold, outcome in zip(folds, outcomes, strict=True):
                        if outcome is None:
                            continue
                        event, decision = fold.event, outcome.decision
                        source = event.source or "unknown"
                        counted[source, event.pipeline, decision.severity, decision.decision] += 1
                        self._write(pipe, outcome, fold.event, now, fold.event_id, writes)
                        if fold.effects is not None:
                            fold.effects(pipe, outcome, holds.get(fold.event_id))
                        _set(pipe, keys.seen(fold.event_id), 1, _SEEN_S)
                    for incident in writes.incidents.values():
                        self.put(pipe, incident)
                    fire_now(pipe, writes.due_now, now.timestamp(), self.lease_s)
                    _count_folded(pipe, counted)
                    for incident_id, lines in writes.timelines.items():
                        pipe.rpush(timeline_key(incident_id), *lines)
                    pipe.execute()
                    return outcomes
                except redis.WatchError:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise FoldConflict(f"{MAX_FOLD_TRIES} conflicting folds in a row")

    def _report_sources(self, event: Event) -> list[str]:
        """The pipelines whose open problems hold a report_ready of `event`'s pipeline."""
        if event.type not in self.rules.routing.paging.notify_types:
            return []
        pipeline = self.rules.pipelines.get(event.pipeline)
        return [event.pipeline, *(pipeline.built_from if pipeline else [])]

    def _holds(self, folds: list[Fold], outcomes: list[Outcome | None]) -> dict[str, Hold]:
        """For each report_ready about to notify, what blocks it (read after WATCH on its
        pipelines' open indexes, like the fold's own reads). Rare: no read otherwise."""
        blocking = self.rules.routing.paging.report_blockers
        holds: dict[str, Hold] = {}
        for fold, outcome in zip(folds, outcomes, strict=True):
            if outcome is None or outcome.decision.decision != "notify":
                continue
            hashes = [
                keys.open_by_type(pipeline, event_type)
                for pipeline in self._report_sources(fold.event)
                for event_type in blocking
            ]
            with self.redis.pipeline(transaction=False) as reads:
                for name in hashes:
                    reads.hvals(name)
                found = reads.execute()
            ids = {i.decode() if isinstance(i, bytes) else str(i) for v in found for i in v}
            # the book in memory: a blocker opened earlier in this very batch counts too
            here = [i for i in outcome.open.values() if i.type in blocking]
            blockers = here + self._load(self.redis, sorted(ids - {i.id for i in here}))
            if blockers:
                holds[fold.event_id] = Hold(blockers, self._latest_estimate(blockers))
        return holds

    def _latest_estimate(self, incidents: list[Incident]) -> str | None:
        """The estimate of the newest note that has one, among the incidents."""
        estimates = [
            (item["at"], item["estimate"])
            for incident in incidents
            for item in self.timeline(incident.id)
            if item["kind"] == "note" and item.get("estimate")
        ]
        return max(estimates)[1] if estimates else None

    def _plan(self, folds: list[Fold], now: datetime) -> list[Outcome | None]:
        """Read what the events can touch (after WATCH, on another connection: a change
        made since aborts the EXEC), then fold them in order in memory. The reads are a
        few commands for the whole batch (MGET, HMGET per pipeline), not one per event;
        never the whole book."""
        dedup_keys: dict[str, dict[str, None]] = {}  # pipeline -> its keys, in order
        resolving: set[tuple[str, str]] = set()  # data_ready: the types it resolves
        for fold in folds:
            event = fold.event
            dedup_keys.setdefault(event.pipeline, {})[event.dedup_key] = None
            for event_type in self.rules.routing.paging.resolves.get(event.type, []):
                resolving.add((event.pipeline, event_type))
        with self.redis.pipeline(transaction=False) as reads:
            reads.mget([keys.seen(fold.event_id) for fold in folds])
            for pipeline, wanted in dedup_keys.items():
                reads.hmget(keys.open_index(pipeline), list(wanted))
            for pipeline, event_type in sorted(resolving):
                reads.hvals(keys.open_by_type(pipeline, event_type))
            seen_flags, *relevant = reads.execute()
        ids = {
            found.decode() if isinstance(found, bytes) else str(found)
            for answer in relevant
            for found in answer
            if found is not None
        }
        rules = self.current_rules()
        books: dict[str, dict[str, Incident]] = {}
        for incident in self._load(self.redis, sorted(ids)):
            books.setdefault(incident.pipeline, {})[incident.dedup_key] = incident
        outcomes: list[Outcome | None] = []
        folded: set[str] = set()
        for fold, seen in zip(folds, seen_flags, strict=True):
            if seen is not None or fold.event_id in folded:
                outcomes.append(None)
                continue
            pipeline = fold.event.pipeline
            outcome = apply_event(books.get(pipeline, {}), fold.event, rules, now, fold.new_id)
            books[pipeline] = dict(outcome.open)
            folded.add(fold.event_id)
            outcomes.append(outcome)
        return outcomes

    def _write(
        self,
        pipe: Any,
        outcome: Outcome,
        event: Event,
        now: datetime,
        event_id: str,
        writes: _Writes,
    ) -> None:
        for incident in outcome.changed:
            writes.incidents[incident.id] = incident  # written once, in its last state
            said = {
                "event_id": event_id,
                "action": event.action,
                "type": event.type,
                "summary": event.summary,
                "source": event.source,
            }
            writes.note(incident.id, entry(now, "event", **said))
            if (
                incident is outcome.opened
                or incident.status == "resolved"
                or (incident.status == "acknowledged" and event.action == "acknowledge")
            ):
                decision = outcome.decision
                said = {"decision": decision.decision, "reason": decision.reason}
                writes.note(incident.id, entry(now, "decision", **said))
            if incident.status == "resolved":  # everyone paged is told, from the outbox
                notice = Timer(kind="resolved", incident=incident.id, round=0, step=0)
                writes.due_now.append(notice)
                self._chat(pipe, writes, incident, "resolved", incident.resolved_by)
            if incident.status == "acknowledged" and event.action == "acknowledge":
                _schedule_ack_timeout(pipe, incident)
                self._chat(pipe, writes, incident, "acknowledged", incident.acknowledged_by)
        opened = outcome.opened
        if opened is not None:
            self._chat(pipe, writes, opened, "triggered")
            _schedule_steps(pipe, opened, now, writes.due_now)
            actions = self.rules.pipeline(opened.pipeline).actions.get(opened.type, [])
            automatic = [n for n, a in enumerate(actions) if not getattr(a, "confirm", False)]
            _schedule_actions(pipe, opened, automatic, now, writes.due_now)

    def _chat(
        self,
        pipe: Any,
        writes: _Writes,
        incident: Incident,
        change: Change,
        who: str | None = None,
        detail: str = "",
    ) -> None:
        """A line for the team chat, if there is one, with its change: for incidents that
        page only (the stream is for what someone must act on)."""
        if not self.rules.team.chat or incident.decision not in ("page", "defer"):
            return
        if change == "triggered":
            line = opened_line(incident, self.rules.team.zone)
        else:
            line = line_for(incident, change, who or "", detail)
        stream.append(pipe, line)
        timer = stream.chat_timer(line.incident)
        if timer not in writes.due_now:
            writes.due_now.append(timer)

    def retrigger(self, incident_id: str, now: datetime) -> Incident | None:
        """An acknowledgement timed out: triggered again, its escalation from the start,
        with its timers. None when there was nothing to do."""

        def change(current: Incident) -> tuple[Incident, Callable[[Any], None]] | None:
            if current.ack_expires_at is None or current.ack_expires_at > now:
                return None
            found = retrigger(current, self.current_rules(), now)
            if found is None:
                return None
            again, decision = found

            def write(pipe: Any) -> None:
                said = {"decision": decision.decision, "reason": decision.reason}
                lines = [
                    entry(now, "ack timeout", acknowledged_by=current.acknowledged_by),
                    entry(now, "decision", **said),
                ]
                pipe.rpush(timeline_key(incident_id), *lines)
                writes = _Writes()
                _schedule_steps(pipe, again, now, writes.due_now)
                self._chat(
                    pipe, writes, again, "triggered again", None, "acknowledgement timed out"
                )
                fire_now(pipe, writes.due_now, now.timestamp(), self.lease_s)

            return again, write

        return self._change(incident_id, change)

    def snooze(self, incident_id: str, for_s: int, by: str, now: datetime) -> Incident | None:
        """Postpone an acknowledged incident's return to triggered until `for_s` from now.
        None when it is not acknowledged."""

        def change(current: Incident) -> tuple[Incident, Callable[[Any], None]] | None:
            if current.status != "acknowledged":
                return None
            until = now + timedelta(seconds=for_s)
            snoozed = current.model_copy(update={"ack_expires_at": until})

            def write(pipe: Any) -> None:
                said = {"by": by, "until": iso_z(until)}
                pipe.rpush(timeline_key(incident_id), entry(now, "snooze", **said))
                _schedule_ack_timeout(pipe, snoozed)

            return snoozed, write

        return self._change(incident_id, change)

    def _change(
        self,
        incident_id: str,
        change: Callable[[Incident], tuple[Incident, Callable[[Any], None]] | None],
    ) -> Incident | None:
        """One incident changed in one transaction with what the change writes besides
        (WATCHed: an acknowledge or resolve racing it wins, and the change is planned
        again on what it left). None when `change` finds nothing to do."""
        key = keys.incident(incident_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    planned = None if raw is None else change(Incident.model_validate_json(raw))
                    if planned is None:
                        return None
                    changed, write = planned
                    pipe.multi()
                    self.put(pipe, changed)
                    write(pipe)
                    pipe.execute()
                    return changed
                except redis.WatchError:
                    continue

    def put(self, pipe: Any, incident: Incident) -> None:
        _set(pipe, keys.incident(incident.id), incident.model_dump_json())
        for index in (
            keys.open_index(incident.pipeline),
            keys.open_by_type(incident.pipeline, incident.type),
        ):
            if incident.is_open:
                pipe.hset(index, incident.dedup_key, incident.id)
            else:
                pipe.hdel(index, incident.dedup_key)
        opened = {incident.id: incident.opened_at.timestamp()}
        for status in STATUSES:
            if status != incident.status:
                pipe.zrem(keys.status(status), incident.id)
                pipe.zrem(keys.pipeline_status(incident.pipeline, status), incident.id)
        pipe.zadd(keys.status(incident.status), opened)
        pipe.zadd(keys.pipeline_status(incident.pipeline, incident.status), opened)

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

    @staticmethod
    def note_on(pipe: Any, incident_id: str, now: datetime, kind: str, **fields: Any) -> None:
        """A timeline line on the caller's pipeline (with a send's marker)."""
        pipe.rpush(timeline_key(incident_id), entry(now, kind, **fields))

    def touched_since(self, since: datetime, until: datetime) -> list[Incident]:
        """Open incidents, and resolved ones opened from `since` to `until`."""
        ids: list[Any] = []
        for status in STATUSES:
            low = "-inf" if status != "resolved" else since.timestamp()
            ids += self.redis.zrangebyscore(keys.status(status), low, until.timestamp())
        return self._load(self.redis, ids)

    def count(self, status: Status, pipeline: str | None = None) -> int:
        return int(self.redis.zcard(_listed(status, pipeline)))

    def page(
        self, status: Status, offset: int, limit: int, pipeline: str | None = None
    ) -> list[Incident]:
        """Newest first, from `offset`: a page of a listing of any length (of one
        pipeline's incidents only, with `pipeline`)."""
        ids = self.redis.zrevrange(_listed(status, pipeline), offset, offset + limit - 1)
        return sorted(self._load(self.redis, ids), key=lambda i: i.opened_at, reverse=True)

    def page_after(
        self,
        statuses: list[Status],
        after: Position | None,
        limit: int,
        pipeline: str | None = None,
    ) -> tuple[list[Incident], Position | None]:
        """At most `limit` incidents of the statuses, newest first (ties: the greater id
        first), from just after `after`, and the position of the last one when more
        follow. A position is an incident's (opening time, id), so a page does not move
        when incidents are added (newer ones come before it), acknowledged (the same
        position in `open`) or resolved; one read of the sorted sets (a script), then
        one MGET of the page."""
        names = [_listed(status, pipeline) for status in statuses]
        score, member = ("", "") if after is None else (repr(after[0]), after[1])
        found = self._after(keys=names, args=[score, member, limit + 1])
        entries = sorted(
            (
                (float(scored[n + 1]), bytes(scored[n]))
                for scored in found
                for n in range(0, len(scored), 2)
            ),
            reverse=True,
        )
        shown = entries[:limit]
        by_id = {i.id: i for i in self._load(self.redis, [id_ for _, id_ in shown])}
        incidents = [by_id[m.decode()] for _, m in shown if m.decode() in by_id]
        if len(entries) <= limit or not shown:
            return incidents, None
        return incidents, (shown[-1][0], shown[-1][1].decode())

    def index_pipelines(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Put every incident in its pipeline's status set (router.keys.pipeline_status):
        `put` writes them since they exist, and this fills them for incidents stored
        before. Idempotent and safe beside folds: ZSCAN returns every id that stays in
        a status set throughout, and the script adds an id only while it is still in that
        status, atomically. `stop` ends it early between chunks. Marks the store done
        (keys.PIPELINE_INDEX) once it has gone through every incident, so later calls
        return at once. How many entries it added."""
        if self.redis.exists(keys.PIPELINE_INDEX):
            return 0
        added, seen = 0, 0
        for status in STATUSES:
            listed = keys.status(status)
            cursor: int = 0
            while True:
                if stop():
                    return added
                cursor, found = self.redis.zscan(listed, cursor, count=_INDEX_CHUNK)
                ids = [m.decode() if isinstance(m, bytes) else str(m) for m, _ in found]
                raws = self.redis.mget([keys.incident(i) for i in ids]) if ids else []
                pairs = [
                    (i, str(orjson.loads(raw)["pipeline"]))
                    for i, raw in zip(ids, raws, strict=True)
                    if raw is not None
                ]
                seen += len(pairs)
                if pairs:
                    names = [keys.pipeline_status(p, status) for _, p in pairs]
                    added += int(self._index(keys=[listed, *names], args=[i for i, _ in pairs]))
                if cursor == 0:
                    break
        if seen:  # nothing to mark on an empty store: nothing was stored before
            _set(self.redis, keys.PIPELINE_INDEX, 1)
        return added

    def listing(self, status: Status | None, limit: int = 200) -> list[Incident]:
        statuses = [status] if status else list(STATUSES)
        ids: list[Any] = []
        for name in statuses:
            ids.extend(self.redis.zrevrange(keys.status(name), 0, limit - 1))
        incidents = self._load(self.redis, ids)
        return sorted(incidents, key=lambda i: i.opened_at, reverse=True)[:limit]


def persistence_warning(client: redis.Redis) -> str | None:
    """Redis keeps incidents, timers and queued events: say so when a restart loses them."""
    config = client.config_get("appendonly")
    config.update(client.config_get("save"))
    if config.get("appendonly") == "yes" or config.get("save"):
        return None
    return "Redis does not persist (appendonly no, no save policy): a restart loses state"
