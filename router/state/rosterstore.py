"""The run-time roster in Redis: absences, overrides and maintenance windows, their
audit log, and the rules with them laid over, reloaded by every process when the
roster's version changes."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Literal

import redis

from router.core.roster import (
    Absence,
    Change,
    MaintenanceTarget,
    Roster,
    RuntimeOverride,
    RuntimeWindow,
    check_absence,
    check_override,
    check_window,
    with_roster,
)
from router.core.rules import Rules
from router.core.times import iso_z
from router.state import audit, keys
from router.state.audit import AuditEntry
from router.state.muted import muted_by, unmute_now_on
from router.state.pipe import Pipe

ChangeKind = Literal["absence", "override", "maintenance"]
Verb = Literal["added", "removed", "ended"]
WINDOW_KEEP = timedelta(days=1)
"""How long an ended maintenance window stays listed with the roster (its end is
acted on by then); the audit log keeps it."""
_HASHES: dict[ChangeKind, str] = {
    "absence": keys.ROSTER_ABSENCES,
    "override": keys.ROSTER_OVERRIDES,
    "maintenance": keys.ROSTER_MAINTENANCE,
}
Stored = Change | RuntimeWindow


class RosterStore:
    def __init__(self, client: redis.Redis, rules: Rules) -> None:
        """`rules`: the YAML defaults the roster is laid over."""
        self.redis, self.base = client, rules
        self._cached: tuple[object, Rules] = (None, rules)

    def rules(self) -> Rules:
        """The rules with the roster laid over: one GET when nothing changed."""
        version = self.redis.get(keys.ROSTER_VERSION)
        if version is None:
            return self.base
        if version != self._cached[0]:
            self._cached = (version, with_roster(self.base, self.roster()))
        return self._cached[1]

    def roster(self, client: redis.Redis | None = None) -> Roster:
        """`client`: a pipeline under WATCH, to read the roster a change is checked against."""
        reads = client or self.redis
        absences = reads.hvals(keys.ROSTER_ABSENCES)
        overrides = reads.hvals(keys.ROSTER_OVERRIDES)
        windows = reads.hvals(keys.ROSTER_MAINTENANCE)
        found = Roster(
            absences=[Absence.model_validate_json(raw) for raw in absences],
            overrides=[RuntimeOverride.model_validate_json(raw) for raw in overrides],
            maintenance=[RuntimeWindow.model_validate_json(raw) for raw in windows],
        )
        return Roster(
            absences=sorted(found.absences, key=lambda a: (a.first, a.engineer)),
            overrides=sorted(found.overrides, key=lambda o: o.start),
            maintenance=sorted(found.maintenance, key=lambda w: (w.start, w.id)),
        )

    def add_absence(
        self, engineer: str, first: date, last: date, reason: str, by: str, now: datetime
    ) -> Absence:
        check_absence(self.base, engineer, first, last)
        absence = Absence(
            id=_new_id("abs"),
            engineer=engineer,
            first=first,
            last=last,
            reason=reason,
            by=by,
            at=now,
        )
        self._write("absence", absence, "added", by, now)
        return absence

    def add_override(
        self, engineer: str, start: datetime, end: datetime, reason: str, by: str, now: datetime
    ) -> RuntimeOverride:
        override = RuntimeOverride(
            id=_new_id("ovr"),
            engineer=engineer,
            start=start,
            end=end,
            reason=reason,
            by=by,
            at=now,
        )
        # checked against the roster as written, under WATCH: two overlapping overrides
        # added at once cannot both land
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(keys.ROSTER_VERSION)  # type: ignore[no-untyped-call]
                    current = with_roster(self.base, self.roster(pipe))
                    check_override(current, engineer, start, end)
                    pipe.multi()
                    self._changes(pipe, "override", override, "added", by, now)
                    pipe.execute()
                    return override
                except redis.WatchError:
                    continue

    def add_window(
        self,
        pipelines: MaintenanceTarget,
        types: list[str] | None,
        start: datetime,
        end: datetime,
        reason: str,
        page_p1: bool,
        by: str,
        now: datetime,
    ) -> RuntimeWindow:
        """A one-off maintenance window, checked (RosterInvalid names the field). Windows
        ended more than WINDOW_KEEP ago leave the roster in the same MULTI."""
        check_window(self.base, pipelines, types, start, end, reason)
        window = RuntimeWindow(
            id=_new_id("mw"),
            pipelines=pipelines,
            types=types,
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            reason=reason.strip(),
            page_p1=page_p1,
            by=by,
            at=now,
        )
        old = [w.id for w in self.roster().maintenance if w.end < now - WINDOW_KEEP]
        with self.redis.pipeline() as pipe:
            if old:
                pipe.hdel(keys.ROSTER_MAINTENANCE, *old)
            self._changes(pipe, "maintenance", window, "added", by, now)
            pipe.execute()
        return window

    def end_window(self, window_id: str, by: str, now: datetime) -> RuntimeWindow | None:
        """Ends the window now (one to come is ended before it starts): its end moves to
        `now`, and the incidents it suppressed or held are decided again at once (their
        `unmute` timers due now, in the same MULTI). None when there is no such window,
        or it has ended."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(keys.ROSTER_MAINTENANCE)  # type: ignore[no-untyped-call]
                    raw = pipe.hget(keys.ROSTER_MAINTENANCE, window_id)
                    if raw is None:
                        return None
                    window = RuntimeWindow.model_validate_json(raw)
                    if not window.current(now):
                        return None
                    since_ts = window.start.timestamp()
                    pipe.watch(keys.muted(window.id, since_ts))  # type: ignore[no-untyped-call]
                    incidents = muted_by(pipe, window.id, since_ts)
                    end = max(now, window.start)
                    ended = window.model_copy(update={"end": end, "ended_by": by})
                    pipe.multi()
                    self._changes(pipe, "maintenance", ended, "ended", by, now)
                    unmute_now_on(pipe, incidents, now)
                    pipe.execute()
                    return ended
                except redis.WatchError:
                    continue

    def windows(self, now: datetime) -> list[RuntimeWindow]:
        """The run-time windows on now or to come, soonest first."""
        return [window for window in self.roster().maintenance if window.current(now)]

    def window_listing(self, now: datetime) -> list[dict[str, object]]:
        """GET /v1/maintenance and `router maintenance list`: the run-time windows on now
        or to come, and each weekly window of the rules at its occurrence now or its
        next one, soonest first; `active` says which are on."""
        found = [
            {**change_json(window), "source": "run time", "active": window.start <= now}
            for window in self.windows(now)
        ]
        zone = self.base.team.zone
        for window in self.base.routing.maintenance_windows:
            span = window.spans(zone, now, now + timedelta(days=8))[0]
            found.append(
                {
                    "id": window.id,
                    "pipelines": "all" if window.pipelines is None else sorted(window.pipelines),
                    "types": None if window.types is None else sorted(window.types),
                    "start": iso_z(span.start),
                    "end": iso_z(span.end),
                    "reason": window.reason,
                    "page_p1": window.page_p1,
                    "weekly": str(window.weekly),
                    "source": "rules",
                    "active": span.holds(now),
                }
            )
        return sorted(found, key=lambda window: (str(window["start"]), str(window["id"])))

    def remove(self, kind: ChangeKind, change_id: str, by: str, now: datetime) -> Change | None:
        raw = self.redis.hget(_HASHES[kind], change_id)
        if raw is None:
            return None
        change: Change = (Absence if kind == "absence" else RuntimeOverride).model_validate_json(
            raw
        )
        self._write(kind, change, "removed", by, now)
        return change

    def audit(self, limit: int = 100) -> list[AuditEntry]:
        return audit.read(self.redis, limit)

    def _write(self, kind: ChangeKind, change: Stored, verb: Verb, by: str, now: datetime) -> None:
        with self.redis.pipeline() as pipe:
            self._changes(pipe, kind, change, verb, by, now)
            pipe.execute()

    def _changes(
        self, pipe: Pipe, kind: ChangeKind, change: Stored, verb: Verb, by: str, now: datetime
    ) -> None:
        """The change, the version bump and its audit line: one MULTI."""
        if verb in ("added", "ended"):
            pipe.hset(_HASHES[kind], change.id, change.model_dump_json(by_alias=True))
        else:
            pipe.hdel(_HASHES[kind], change.id)
        # a fresh random value, not a count: a count restarted after a flush could match
        # the one a process cached
        pipe.execute_command("SET", keys.ROSTER_VERSION, secrets.token_hex(8))
        audit.append(pipe, _audit_line(kind, verb, change, by, now))


def change_json(change: Stored) -> dict[str, object]:
    said: dict[str, object] = change.model_dump(mode="json", by_alias=True)
    return said


def _audit_line(kind: ChangeKind, verb: Verb, change: Stored, by: str, now: datetime) -> AuditEntry:
    line = AuditEntry(at=iso_z(now), by=by, action=f"{kind} {verb}")
    line[kind] = change_json(change)
    return line


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
