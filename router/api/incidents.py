"""Incidents, their timelines, acknowledge/resolve, who is on call, dead letters, health."""

from __future__ import annotations

import base64
import logging
import math
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import msgspec
import orjson
import redis
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from router.api.auth import Engineer, Writer, require_reader
from router.api.deps import RuntimeDep
from router.api.errors import error_body
from router.core.durations import DurationS
from router.core.incidents import Incident, Status
from router.core.links import LinkAction
from router.core.notes import MAX_NOTE_CHARS, estimate_at
from router.core.rotation import shift_json, shifts_between
from router.core.times import iso_z
from router.service.acting import act, already_done
from router.service.runtime import Runtime
from router.state import deadletters, keys
from router.state.replication import replication
from router.state.store import Position, persistence_warning
from router.state.watch import RedisClock, offsets
from router.state.writer import STATUSES

log = logging.getLogger(__name__)
router = APIRouter()
authorized = APIRouter(dependencies=[Depends(require_reader)])
HEARTBEAT_FRESH_S = 30
Listed = Literal["triggered", "open", "acknowledged", "resolved"]
PAGE, MAX_PAGE = 100, 500  # incidents a page of GET /v1/incidents: by default, at most


def find_incident(runtime: Runtime, incident_id: str) -> Incident:
    found = runtime.engine.store.get(incident_id)
    if found is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return found


def _view(incident: Incident, runtime: Runtime | None = None) -> dict[str, Any]:
    said: dict[str, Any] = incident.model_dump(mode="json")
    if runtime is not None:  # the pipeline's SLA, in the rules' words
        pipeline = runtime.rules.pipelines.get(incident.pipeline)
        said["sla"] = pipeline.sla if pipeline else []
    return said


class IncidentView(Incident):
    sla: list[str] = Field(default_factory=list, description="The pipeline's SLA, as written")


class IncidentPage(BaseModel):
    incidents: list[IncidentView]
    next: str | None = Field(
        description="The cursor of the next page (pass it as `next`); null on the last page"
    )


def cursor_of(position: Position) -> str:
    """Opaque to clients: the last incident's opening time and id, base64url."""
    said = base64.urlsafe_b64encode(f"{position[0]!r}:{position[1]}".encode())
    return said.decode().rstrip("=")


def position_of(cursor: str) -> Position:
    """ValueError unless `cursor` is one cursor_of made."""
    if len(cursor) > 200:
        raise ValueError("not a cursor from this API")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        said = base64.b64decode(padded, altchars=b"-_", validate=True)
        score, _, incident_id = said.decode().partition(":")
        at = float(score)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ValueError("not a cursor from this API") from None
    if not (math.isfinite(at) and _ID.fullmatch(incident_id)):
        raise ValueError("not a cursor from this API")
    return at, incident_id


_ID = re.compile(r"[0-9a-f]{1,64}")
LISTED: dict[str, list[Status]] = {
    "open": ["triggered", "acknowledged"],
    "triggered": ["triggered"],
    "acknowledged": ["acknowledged"],
    "resolved": ["resolved"],
}


@authorized.get(
    "/v1/incidents",
    response_model=IncidentPage,
    responses={400: {"description": "`limit`, `next` or `pipeline` is not valid"}},
)
def list_incidents(
    runtime: RuntimeDep,
    status: Listed | None = None,
    pipeline: Annotated[str | None, Query(description="Only this pipeline's")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Incidents a page")] = PAGE,
    cursor: Annotated[
        str | None, Query(alias="next", description="The previous page's `next`")
    ] = None,
) -> Response:
    """Newest first, a page at a time: follow `next` until it is null. `open` is
    triggered or acknowledged, as in PagerDuty. A cursor stays valid while incidents
    are added, acknowledged or resolved: each incident is listed once."""
    try:
        after = None if cursor is None else position_of(cursor)
    except ValueError as error:
        return JSONResponse(error_body(400, f"next: {error}"), 400)
    if pipeline is not None and pipeline not in runtime.rules.pipelines:
        return JSONResponse(error_body(400, f"pipeline: unknown {pipeline!r}"), 400)
    statuses = LISTED[status] if status else list(STATUSES)
    found, last = runtime.engine.store.page_after(statuses, after, limit, pipeline)
    said = {
        "incidents": [_view(i, runtime) for i in found],
        "next": None if last is None else cursor_of(last),
    }
    return Response(orjson.dumps(said), media_type="application/json")


@authorized.get("/v1/incidents/{incident_id}")
def get_incident(runtime: RuntimeDep, incident_id: str) -> dict[str, Any]:
    incident = find_incident(runtime, incident_id)
    timeline = runtime.engine.store.timeline(incident_id)
    return {"incident": _view(incident, runtime), "timeline": timeline}


def _act(runtime: Runtime, incident_id: str, action: LinkAction, by: str) -> Any:
    incident = find_incident(runtime, incident_id)
    if already_done(incident, action):
        return JSONResponse({"incident": _view(incident), "changed": False})
    acted = act(runtime, incident, action, by)
    return {"incident": _view(acted.incident), "changed": acted.changed}


@authorized.post("/v1/incidents/{incident_id}/acknowledge")
def acknowledge(runtime: RuntimeDep, incident_id: str, who: Engineer) -> Any:
    return _act(runtime, incident_id, "acknowledge", who)


@authorized.post("/v1/incidents/{incident_id}/resolve")
def resolve(runtime: RuntimeDep, incident_id: str, who: Engineer) -> Any:
    return _act(runtime, incident_id, "resolve", who)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)
    estimate: str | None = Field(
        default=None, description="When the fix is due: '2d', '4h', or an ISO 8601 date and time"
    )


def add_note(runtime: Runtime, incident_id: str, body: NoteIn, by: str) -> dict[str, Any]:
    """Raises NoteInvalid naming the field; 404 without the incident."""
    find_incident(runtime, incident_id)
    if not body.text.strip():
        raise NoteInvalid("text", "write something")
    now = runtime.clock.now()
    estimate = None
    if body.estimate:
        try:
            estimate = iso_z(estimate_at(body.estimate, now, runtime.rules.team.zone))
        except ValueError as error:
            raise NoteInvalid("estimate", str(error)) from None
    said = {"by": by, "text": body.text.strip(), "estimate": estimate}
    runtime.engine.store.note(incident_id, now, "note", **said)
    runtime.confirm_writes()
    return {"at": iso_z(now), **said}


class NoteInvalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


@authorized.post("/v1/incidents/{incident_id}/notes", status_code=201)
def post_note(runtime: RuntimeDep, incident_id: str, body: NoteIn, who: Writer) -> Any:
    """A note on the incident's timeline, with an optional estimate for the fix; shown on
    the console and in the resolved email."""
    try:
        return {"note": add_note(runtime, incident_id, body, who)}
    except NoteInvalid as error:
        return JSONResponse(error_body(400, str(error)), 400)


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    duration: DurationS = Field(alias="for", description="How long, like '2h' or '30m'")


def snooze(runtime: Runtime, incident_id: str, for_s: int, by: str) -> Incident:
    """409 unless the incident is acknowledged (a triggered one is acknowledged first)."""
    find_incident(runtime, incident_id)
    snoozed = runtime.engine.store.snooze(incident_id, for_s, by, runtime.clock.now())
    if snoozed is None:
        raise HTTPException(409, "only an acknowledged incident can be snoozed")
    runtime.confirm_writes()
    return snoozed


@authorized.post("/v1/incidents/{incident_id}/snooze")
def post_snooze(runtime: RuntimeDep, incident_id: str, body: SnoozeIn, who: Engineer) -> Any:
    """Postpone the acknowledgement timeout: the incident is triggered again after `for`
    unless resolved first."""
    return {"incident": _view(snooze(runtime, incident_id, body.duration, who))}


@authorized.get("/v1/oncall")
def oncall(runtime: RuntimeDep, days: int = 14) -> dict[str, Any]:
    now = runtime.clock.now()
    span = timedelta(days=max(1, min(days, 90)))
    shifts = shifts_between(now, now + span, runtime.current_rules())
    return {"now": shift_json(shifts[0]), "next": [shift_json(s) for s in shifts[1:]]}


@authorized.get("/v1/dead-letters")
def dead_letters(runtime: RuntimeDep) -> dict[str, Any]:
    """Events whose fold failed MAX_FOLD_FAILURES times; `router dead-letters retry`
    queues them again."""
    letters = deadletters.listing(runtime.redis, runtime.rules)
    unreadable = deadletters.unreadable(runtime.redis)
    return {
        "dead_letters": msgspec.to_builtins(letters),
        "unreadable": msgspec.to_builtins(unreadable),
    }


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> Any:
    try:
        runtime.redis.ping()
        newest = runtime.redis.zrevrange(keys.HEARTBEATS, 0, 0, withscores=True)
        warning = persistence_warning(runtime.redis)
        replicated = replication(runtime.redis)
    except redis.RedisError as error:  # any Redis failure means not ready
        return JSONResponse({"status": "not ready", "redis": str(error)}, status_code=503)
    age_s = runtime.clock.now().timestamp() - float(newest[0][1]) if newest else None
    if age_s is None or age_s > HEARTBEAT_FRESH_S:
        return JSONResponse(
            {"status": "not ready", "worker": "no recent heartbeat", "replication": replicated},
            503,
        )
    said: dict[str, Any] = {"status": "ready", "redis": "ok", "replication": replicated}
    said["worker_heartbeat_age_s"] = round(age_s, 1)
    if isinstance(runtime.clock, RedisClock):  # the offsets it corrects for
        try:
            measured = offsets(runtime.redis, runtime.clock.now())
        except redis.RedisError:
            measured = {}
        said["clock"] = {
            "goes_by": "redis",
            "offsets_s": {name: round(offset, 3) for name, offset in measured.items()},
        }
    if warning:
        said["warnings"] = [warning]
    return said


router.include_router(authorized)
