"""The audit log (keys.AUDIT): who changed what, newest first, the last AUDIT_KEEP lines.

Two kinds of change write it, each in the transaction of the change itself: the roster's
(an absence, override or maintenance window added, removed or ended:
router.state.rosterstore) and a person's action on an incident (acknowledged, resolved or
snoozed, from any path: the API, the console, an email link or reply, a push button,
Slack: router.state.writer, from the plan's `audit`)."""

from __future__ import annotations

from typing import TypedDict, cast

import orjson
import redis

from router.core.fold import AuditLine
from router.core.times import iso_z
from router.state import keys
from router.state.pipe import Pipe

AUDIT_KEEP = 10_000


class IncidentChange(TypedDict):
    id: str
    pipeline: str
    summary: str


class AuditEntry(TypedDict, total=False):
    """A line of the audit log: when, who, what (`absence added`, `incident
    acknowledged`, ...), and the change under its kind's name."""

    at: str
    by: str
    action: str
    absence: dict[str, object]
    override: dict[str, object]
    maintenance: dict[str, object]
    incident: IncidentChange


def append(pipe: Pipe, entry: AuditEntry) -> None:
    """On the change's own MULTI."""
    pipe.lpush(keys.AUDIT, orjson.dumps(entry))
    pipe.ltrim(keys.AUDIT, 0, AUDIT_KEEP - 1)


def incident_entry(line: AuditLine) -> AuditEntry:
    changed = IncidentChange(id=line.incident, pipeline=line.pipeline, summary=line.summary)
    return AuditEntry(at=iso_z(line.at), by=line.by, action=line.action, incident=changed)


def read(client: redis.Redis, limit: int) -> list[AuditEntry]:
    lines = client.lrange(keys.AUDIT, 0, limit - 1)
    return [cast(AuditEntry, orjson.loads(line)) for line in lines]
