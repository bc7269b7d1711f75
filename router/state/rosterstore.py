"""The run-time roster in Redis: absences and overrides, their audit log, and the rules
with them laid over, reloaded by every process when the roster's version changes."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Literal, TypedDict, cast

import orjson
import redis

from router.core.roster import (
    Absence,
    Change,
    Roster,
    RuntimeOverride,
    check_absence,
    check_override,
    with_roster,
)
from router.core.rules import Rules
from router.core.times import iso_z
from router.state import keys
from router.state.pipe import Pipe

ChangeKind = Literal["absence", "override"]
Verb = Literal["added", "removed"]
AUDIT_KEEP = 10_000
_HASHES: dict[ChangeKind, str] = {
    "absence": keys.ROSTER_ABSENCES,
    "override": keys.ROSTER_OVERRIDES,
}


class AuditEntry(TypedDict, total=False):
    """A line of the audit log: when, who, what (`absence added`, ...), and the change
    under its kind's name."""

    at: str
    by: str
    action: str
    absence: dict[str, object]
    override: dict[str, object]


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
        found = Roster(
            absences=[Absence.model_validate_json(raw) for raw in absences],
            overrides=[RuntimeOverride.model_validate_json(raw) for raw in overrides],
        )
        return Roster(
            absences=sorted(found.absences, key=lambda a: (a.first, a.engineer)),
            overrides=sorted(found.overrides, key=lambda o: o.start),
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
        lines = self.redis.lrange(keys.AUDIT, 0, limit - 1)
        return [cast(AuditEntry, orjson.loads(line)) for line in lines]

    def _write(self, kind: ChangeKind, change: Change, verb: Verb, by: str, now: datetime) -> None:
        with self.redis.pipeline() as pipe:
            self._changes(pipe, kind, change, verb, by, now)
            pipe.execute()

    def _changes(
        self, pipe: Pipe, kind: ChangeKind, change: Change, verb: Verb, by: str, now: datetime
    ) -> None:
        """The change, the version bump and its audit line: one MULTI."""
        if verb == "added":
            pipe.hset(_HASHES[kind], change.id, change.model_dump_json(by_alias=True))
        else:
            pipe.hdel(_HASHES[kind], change.id)
        # a fresh random value, not a count: a count restarted after a flush could match
        # the one a process cached
        pipe.execute_command("SET", keys.ROSTER_VERSION, secrets.token_hex(8))
        pipe.lpush(keys.AUDIT, _audit_line(kind, verb, change, by, now))
        pipe.ltrim(keys.AUDIT, 0, AUDIT_KEEP - 1)


def change_json(change: Change) -> dict[str, object]:
    said: dict[str, object] = change.model_dump(mode="json", by_alias=True)
    return said


def _audit_line(kind: ChangeKind, verb: Verb, change: Change, by: str, now: datetime) -> bytes:
    return orjson.dumps(
        {"at": iso_z(now), "by": by, "action": f"{kind} {verb}", kind: change_json(change)}
    )


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"
