"""Incidents in Redis: the reads a fold needs, and one optimistic transaction per group
of pipelines a batch touches together.

The core plans what the events cause (router.core.fold), and the writer puts that plan in
the transaction's MULTI (router.state.writer): the incidents, their timelines, timers,
report notices, markers and counts. Acknowledge, resolve, snooze and the ack timeout go
the same way, WATCHing the incident. Key layout: router.state.keys.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime

import orjson
import redis

from router.core.fold import (
    Arrival,
    Estimate,
    Plan,
    fold_groups,
    plan_action,
    plan_fold,
    plan_hold,
    plan_retrigger,
    plan_snooze,
    plan_unmute,
    report_sources,
    touched,
)
from router.core.incidents import Act, Incident, Outcome, Status
from router.core.maintenance import Muted
from router.core.rules import Rules
from router.core.timeline import Line, notes, read_lines
from router.core.times import iso_z
from router.state import keys
from router.state.pipe import Pipe
from router.state.sendonce import Field
from router.state.writer import STATUSES, Composer, PlanWriter, put_incident, set_value

MAX_FOLD_TRIES = 50  # conflicts on one pipeline before the fold gives up
LOCK_FROM_EVENTS = 100
"""A group of this many events takes its pipelines' fold locks; fewer fold at once."""
LOCK_WAIT_S = 0.5
"""How long a big group waits for fold locks before it folds without them (a lock left
by a worker that died lives FOLD_LOCK_S)."""
FOLD_LOCK_S = 5.0
LOCK_POLL_S = 0.002

# KEYS: the fold locks of a group's pipelines. ARGV[1]: the token, ARGV[2]: the lease.
# All or none.
_TAKE = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
end
return 1
"""
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


class FoldLocks:
    """Turns for the workers folding big batches of the same pipelines (an optimisation:
    the transactions' WATCH is what keeps folds correct)."""

    def __init__(self, client: redis.Redis) -> None:
        self._take = client.register_script(_TAKE)
        self._give_back = client.register_script(_GIVE_BACK)

    def take(self, pipelines: list[str]) -> str | None:
        token = secrets.token_hex(8)
        names = [keys.fold_lock(pipeline) for pipeline in pipelines]
        return token if self._take(keys=names, args=[token, int(FOLD_LOCK_S * 1000)]) else None

    def give_back(self, pipelines: list[str], token: str) -> None:
        self._give_back(keys=[keys.fold_lock(pipeline) for pipeline in pipelines], args=[token])


class FoldConflict(Exception):
    """Other workers kept changing the pipeline's incidents; the task retries later."""


def timeline_key(incident_id: str) -> str:
    return keys.timeline(incident_id)


def entry(now: datetime, kind: str, **fields: Field) -> str:
    return orjson.dumps(
        {"at": iso_z(now), "kind": kind, **fields}, option=orjson.OPT_SORT_KEYS
    ).decode()


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


def _ids(found: object) -> list[bytes | str]:
    """The members of a sorted-set range read without scores."""
    assert isinstance(found, list)
    return [member for member in found if isinstance(member, bytes | str)]


def _listed(status: Status, pipeline: str | None) -> str:
    return keys.status(status) if pipeline is None else keys.pipeline_status(pipeline, status)


class IncidentStore:
    def __init__(
        self,
        client: redis.Redis,
        rules: Rules,
        lease_s: float = 60.0,
        current_rules: Callable[[], Rules] | None = None,
        composer: Composer | None = None,
    ) -> None:
        """`lease_s`: how long a timer fired at once (router.state.timers.fire_now) is leased;
        `current_rules`: the rules with the run-time roster laid over (router.state.rosterstore),
        read once per fold, so a new absence changes the next page's recipient;
        `composer`: renders the report notices a fold queues."""
        self.redis = client
        self.rules = rules
        self.lease_s = lease_s
        self.current_rules = current_rules or (lambda: rules)
        self.writer = PlanWriter(rules, composer, lease_s)
        self._locks = FoldLocks(client)
        self._after = client.register_script(_AFTER)
        self._index = client.register_script(_INDEX)

    def fold(self, arrival: Arrival, now: datetime) -> Outcome | None:
        """Apply one event atomically; None when its id was folded before."""
        return self.fold_many([arrival], now)[0]

    def fold_many(
        self, arrivals: list[Arrival], now: datetime, take_turns: bool = False
    ) -> list[Outcome | None]:
        """Apply events in order: a transaction per group of pipelines the events touch
        together (router.core.fold.fold_groups), so workers folding different pipelines never
        conflict. Each is pipelined reads, the pure fold (router.core.fold.plan_fold), one
        MULTI/EXEC of its plan. An event whose id was folded before (a redelivered task)
        gets None and changes nothing.

        With `take_turns` (the ingest lane), a big group first takes its pipelines' fold
        locks, waiting at most LOCK_WAIT_S: two workers on one pipeline then take turns
        instead of both planning and one throwing its plan away, which on two cores
        slowed the winner too. The WATCH, not the lock, keeps folds correct; the urgent
        lane never waits for a lock."""
        outcomes: list[Outcome | None] = [None] * len(arrivals)
        pending = fold_groups(arrivals, self.rules)
        wait_until = time.monotonic() + LOCK_WAIT_S
        while pending:
            for group in list(pending):
                events = [arrivals[i].event for i in group]
                pipelines = sorted({p for e in events for p in touched(e, self.rules)})
                locked = None
                big = take_turns and len(group) >= LOCK_FROM_EVENTS
                if big and time.monotonic() < wait_until:
                    locked = self._locks.take(pipelines)
                    if locked is None:
                        continue
                try:
                    folded = self._fold_group([arrivals[i] for i in group], pipelines, now)
                finally:
                    if locked is not None:
                        self._locks.give_back(pipelines, locked)
                for index, outcome in zip(group, folded, strict=True):
                    outcomes[index] = outcome
                pending.remove(group)
            if pending:
                time.sleep(LOCK_POLL_S)
        return outcomes

    def _fold_group(
        self, arrivals: list[Arrival], pipelines: list[str], now: datetime
    ) -> list[Outcome | None]:
        """Concurrent folds of the same pipelines retry with a short random back-off,
        MAX_FOLD_TRIES times at most."""
        watched = [keys.pipeline_version(pipeline) for pipeline in pipelines]
        for attempt in range(MAX_FOLD_TRIES):
            with self.redis.pipeline() as pipe:
                try:
                    pipe.watch(*watched)  # type: ignore[no-untyped-call]
                    books, seen, estimates = self._read(arrivals)
                    plan = plan_fold(arrivals, books, seen, estimates, self.current_rules(), now)
                    pipe.multi()
                    self.writer.write(pipe, plan, now)
                    pipe.execute()
                    return plan.outcomes
                except redis.WatchError:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise FoldConflict(f"{MAX_FOLD_TRIES} conflicting folds in a row")

    def _read(
        self, arrivals: list[Arrival]
    ) -> tuple[dict[str, dict[str, Incident]], set[str], dict[str, Estimate]]:
        """What the events can touch (after WATCH, on another connection: a change made
        since aborts the EXEC): a few commands for the whole batch (MGET, HMGET per
        pipeline), never the whole book. The open incidents by dedup key, per pipeline;
        the event ids folded before; for a report a batch makes ready, what blocks it and
        the blockers' latest estimates (rare: no read otherwise)."""
        rules = self.rules
        dedup_keys: dict[str, dict[str, None]] = {}  # pipeline -> its keys, in order
        by_type: set[tuple[str, str]] = set()  # data_ready: the types it resolves; blockers
        for arrival in arrivals:
            event = arrival.event
            dedup_keys.setdefault(event.pipeline, {})[event.dedup_key] = None
            for event_type in rules.routing.paging.resolves.get(event.type, []):
                by_type.add((event.pipeline, event_type))
            for source in report_sources(event, rules):
                by_type |= {(source, t) for t in rules.routing.paging.report_blockers}
        seen_on: dict[str, list[str]] = {}
        for arrival in arrivals:
            key = keys.seen_on(arrival.event.pipeline, arrival.received_at)
            seen_on.setdefault(key, []).append(arrival.event_id)
        with self.redis.pipeline(transaction=False) as reads:
            reads.mget([keys.seen(arrival.event_id) for arrival in arrivals])  # before 0.3
            for key, event_ids in seen_on.items():
                reads.hmget(key, event_ids)
            for pipeline, wanted in dedup_keys.items():
                reads.hmget(keys.open_index(pipeline), list(wanted))
            for pipeline, event_type in sorted(by_type):
                reads.hvals(keys.open_by_type(pipeline, event_type))
            markers_before, *answers = reads.execute()
        found_on, relevant = answers[: len(seen_on)], answers[len(seen_on) :]
        seen = {a.event_id for a, flag in zip(arrivals, markers_before, strict=True) if flag}
        for event_ids, flags in zip(seen_on.values(), found_on, strict=True):
            seen |= {event_id for event_id, flag in zip(event_ids, flags, strict=True) if flag}
        ids = {
            found.decode() if isinstance(found, bytes) else str(found)
            for answer in relevant
            for found in answer
            if found is not None
        }
        books: dict[str, dict[str, Incident]] = {}
        incidents = self._load(self.redis, sorted(ids))
        for incident in incidents:
            books.setdefault(incident.pipeline, {})[incident.dedup_key] = incident
        estimates: dict[str, Estimate] = {}
        if any(report_sources(a.event, rules) for a in arrivals):
            blocking = rules.routing.paging.report_blockers
            for incident in incidents:
                if incident.type in blocking and (found := self._estimate(incident.id)):
                    estimates[incident.id] = found
        return books, seen, estimates

    def folded_before(self, pipeline: str, event_id: str, received_at: datetime) -> bool:
        """Whether the event, received at `received_at`, was folded (or set aside)."""
        with self.redis.pipeline(transaction=False) as reads:
            reads.exists(keys.seen(event_id))
            reads.hexists(keys.seen_on(pipeline, received_at), event_id)
            before, now = reads.execute()
        return bool(before or now)

    def _estimate(self, incident_id: str) -> Estimate | None:
        """The newest note on the incident that has an estimate: (when, estimate)."""
        estimates = [
            (note.at, note.estimate) for note in notes(self.lines(incident_id)) if note.estimate
        ]
        return max(estimates) if estimates else None

    def act(
        self, incident_id: str, action: Act, by: str,
        action_id: str, now: datetime,
    ) -> Incident | None:  # fmt: skip
        """Acknowledge or resolve as `by`; None when there was nothing to do."""
        return self._change(
            incident_id,
            lambda current: plan_action(current, action, by, action_id, self.current_rules(), now),
            now,
        )

    def retrigger(self, incident_id: str, now: datetime) -> Incident | None:
        """An acknowledgement timed out: triggered again, its escalation from the start,
        with its timers. None when there was nothing to do."""
        return self._change(
            incident_id, lambda current: plan_retrigger(current, self.current_rules(), now), now
        )

    def hold(self, incident_id: str, due: datetime, now: datetime) -> Muted | None:
        """A step due at `due` fell in a maintenance window: the escalation is held until
        the window's end, as the rules have the windows now (one ended since the step was
        decided holds nothing). The window it is held under (held before, or just now);
        None when no window is on over it."""
        rules = self.current_rules()
        found: list[Muted] = []

        def held(current: Incident) -> Plan | None:
            muted = rules.muting(current.pipeline, current.type, current.severity, now)
            if muted is None:
                return None
            found.append(muted)
            return plan_hold(current, muted, due, now)

        self._change(incident_id, held, now)
        return found[-1] if found else None

    def unmute(self, incident_id: str, now: datetime) -> Incident | None:
        """A maintenance window over the incident ended: decided again, or its escalation
        resumed (router.core.fold.plan_unmute). None when nothing changed."""
        return self._change(
            incident_id, lambda current: plan_unmute(current, self.current_rules(), now), now
        )

    def snooze(self, incident_id: str, for_s: int, by: str, now: datetime) -> Incident | None:
        """Postpone an acknowledged incident's return to triggered until `for_s` from now.
        None when it is not acknowledged."""
        return self._change(incident_id, lambda current: plan_snooze(current, for_s, by, now), now)

    def _change(
        self, incident_id: str, change: Callable[[Incident], Plan | None], now: datetime
    ) -> Incident | None:
        """One incident changed in one transaction with what the change writes besides
        (WATCHed: a fold or another action racing it wins, and the change is planned
        again on what it left). None when `change` finds nothing to do."""
        key = keys.incident(incident_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    plan = None if raw is None else change(Incident.model_validate_json(raw))
                    if plan is None:
                        return None
                    pipe.multi()
                    self.writer.write(pipe, plan, now)
                    pipe.execute()
                    return plan.incidents.get(incident_id)
                except redis.WatchError:
                    continue

    def put(self, pipe: Pipe, incident: Incident) -> None:
        """An incident and its indexes, outside any plan and whatever its status was
        (tests seed and change a store with it)."""
        for status in STATUSES:
            if status != incident.status:
                pipe.zrem(keys.status(status), incident.id)
                pipe.zrem(keys.pipeline_status(incident.pipeline, status), incident.id)
        put_incident(pipe, incident, None)
        pipe.incr(keys.pipeline_version(incident.pipeline))

    def _load(self, client: redis.Redis, ids: Sequence[bytes | str]) -> list[Incident]:
        names = [i.decode() if isinstance(i, bytes) else str(i) for i in ids]
        return [i for i in _get_many(client, names).values() if i is not None]

    def get(self, incident_id: str) -> Incident | None:
        raw = self.redis.get(keys.incident(incident_id))
        return Incident.model_validate_json(raw) if raw is not None else None

    def get_many(self, incident_ids: Sequence[str]) -> dict[str, Incident | None]:
        """Each incident as `get` reads it, in one MGET."""
        return _get_many(self.redis, incident_ids)

    def timeline(self, incident_id: str) -> list[dict[str, Field]]:
        """The entries as stored, every field (the API shows them)."""
        return [json.loads(item) for item in self.redis.lrange(timeline_key(incident_id), 0, -1)]

    def lines(self, incident_id: str) -> list[Line]:
        """The entries as the code that decides by them reads them."""
        return read_lines(self.redis.lrange(timeline_key(incident_id), 0, -1))

    def note(self, incident_id: str, now: datetime, kind: str, **fields: Field) -> None:
        self.redis.rpush(timeline_key(incident_id), entry(now, kind, **fields))

    @staticmethod
    def note_on(pipe: Pipe, incident_id: str, now: datetime, kind: str, **fields: Field) -> None:
        """A timeline line on the caller's pipeline (with a send's marker)."""
        pipe.rpush(timeline_key(incident_id), entry(now, kind, **fields))

    def touched_since(self, since: datetime, until: datetime) -> list[Incident]:
        """Open incidents, and resolved ones opened from `since` to `until`."""
        ids: list[bytes | str] = []
        for status in STATUSES:
            low = "-inf" if status != "resolved" else since.timestamp()
            ids += _ids(self.redis.zrangebyscore(keys.status(status), low, until.timestamp()))
        return self._load(self.redis, ids)

    def count(self, status: Status, pipeline: str | None = None) -> int:
        return int(self.redis.zcard(_listed(status, pipeline)))

    def page(
        self, status: Status, offset: int, limit: int, pipeline: str | None = None
    ) -> list[Incident]:
        """Newest first, from `offset`: a page of a listing of any length (of one
        pipeline's incidents only, with `pipeline`)."""
        ids = _ids(self.redis.zrevrange(_listed(status, pipeline), offset, offset + limit - 1))
        return sorted(self._load(self.redis, ids), key=lambda i: i.opened_at, reverse=True)

    def every(self, status: Status, pipeline: str | None = None) -> list[Incident]:
        """Every incident of the status (of one pipeline's, with `pipeline`), in no set
        order: for a listing ordered by more than opening time (the console's open
        incidents, by severity), which has to see them all to sort them."""
        return self._load(self.redis, _ids(self.redis.zrange(_listed(status, pipeline), 0, -1)))

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
        """Put every incident in its pipeline's status set (router.state.keys.pipeline_status):
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
            set_value(self.redis, keys.PIPELINE_INDEX, 1)
        return added

    def listing(self, status: Status | None, limit: int = 200) -> list[Incident]:
        statuses = [status] if status else list(STATUSES)
        ids: list[bytes | str] = []
        for name in statuses:
            ids.extend(_ids(self.redis.zrevrange(keys.status(name), 0, limit - 1)))
        incidents = self._load(self.redis, ids)
        return sorted(incidents, key=lambda i: i.opened_at, reverse=True)[:limit]


def persistence_warning(client: redis.Redis) -> str | None:
    """Redis keeps incidents, timers and queued events: say so when a restart loses them."""
    config = client.config_get("appendonly")
    config.update(client.config_get("save"))
    if config.get("appendonly") == "yes" or config.get("save"):
        return None
    return "Redis does not persist (appendonly no, no save policy): a restart loses state"


def _get_many(client: redis.Redis, incident_ids: Sequence[str]) -> dict[str, Incident | None]:
    if not incident_ids:
        return {}
    raws = client.mget([keys.incident(i) for i in incident_ids])
    return {
        incident_id: Incident.model_validate_json(raw) if raw is not None else None
        for incident_id, raw in zip(incident_ids, raws, strict=True)
    }
