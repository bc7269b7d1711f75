"""Absences and overrides at run time, and the audit log of who changed them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from router.api.auth import Engineer, require_reader
from router.api.deps import RuntimeDep
from router.api.errors import error_body
from router.core.events import Day
from router.core.roster import Change, RosterInvalid
from router.core.times import parse_instant
from router.service.runtime import Runtime
from router.state.rosterstore import ChangeKind, change_json

router = APIRouter(dependencies=[Depends(require_reader)])


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engineer: str
    start: str = Field(description="ISO 8601; without an offset, team time")
    end: str = Field(description="ISO 8601; without an offset, team time")
    reason: str = Field(default="", max_length=500)


class AbsenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    engineer: str
    first: Day = Field(alias="from", description="First day away (team time)")
    last: Day = Field(alias="to", description="Last day away, included")
    reason: str = Field(default="", max_length=500)


def invalid(field: str, message: str) -> JSONResponse:
    said = f"{field}: {message}"
    return JSONResponse(error_body(400, said), 400)


def instant(runtime: Runtime, text: str, field: str) -> datetime:
    try:
        return parse_instant(text, runtime.rules.team.zone)
    except ValueError:
        raise RosterInvalid(field, f"{text!r} is not an ISO 8601 date and time") from None


def add_override(runtime: Runtime, body: OverrideIn, by: str) -> dict[str, Any]:
    """Raises RosterInvalid naming the field."""
    start = instant(runtime, body.start, "start")
    end = instant(runtime, body.end, "end")
    added = runtime.roster.add_override(
        body.engineer, start, end, body.reason, by, runtime.clock.now()
    )
    runtime.confirm_writes()
    return change_json(added)


def add_absence(runtime: Runtime, body: AbsenceIn, by: str) -> dict[str, Any]:
    added = runtime.roster.add_absence(
        body.engineer, body.first, body.last, body.reason, by, runtime.clock.now()
    )
    runtime.confirm_writes()
    return change_json(added)


@router.post("/v1/overrides", status_code=201)
def post_override(runtime: RuntimeDep, body: OverrideIn, who: Engineer) -> Any:
    try:
        return {"override": add_override(runtime, body, who)}
    except RosterInvalid as error:
        return invalid(error.field, error.message)


@router.post("/v1/absences", status_code=201)
def post_absence(runtime: RuntimeDep, body: AbsenceIn, who: Engineer) -> Any:
    try:
        return {"absence": add_absence(runtime, body, who)}
    except RosterInvalid as error:
        return invalid(error.field, error.message)


@router.get("/v1/overrides")
def list_overrides(runtime: RuntimeDep) -> dict[str, Any]:
    """The run-time overrides (the YAML's are in oncall.yaml)."""
    return {"overrides": [change_json(o) for o in runtime.roster.roster().overrides]}


@router.get("/v1/absences")
def list_absences(runtime: RuntimeDep) -> dict[str, Any]:
    return {"absences": [change_json(a) for a in runtime.roster.roster().absences]}


def remove_change(runtime: Runtime, kind: ChangeKind, change_id: str, by: str) -> Change | None:
    """The run-time absence or override removed (None: it was not there)."""
    removed = runtime.roster.remove(kind, change_id, by, runtime.clock.now())
    if removed is not None:
        runtime.confirm_writes()
    return removed


def _remove(runtime: Runtime, kind: ChangeKind, change_id: str, by: str) -> dict[str, Any]:
    removed = remove_change(runtime, kind, change_id, by)
    if removed is None:
        raise HTTPException(404, f"no {kind} {change_id}")
    return {kind: change_json(removed), "removed": True}


@router.delete("/v1/overrides/{override_id}")
def delete_override(runtime: RuntimeDep, override_id: str, who: Engineer) -> dict[str, Any]:
    return _remove(runtime, "override", override_id, who)


@router.delete("/v1/absences/{absence_id}")
def delete_absence(runtime: RuntimeDep, absence_id: str, who: Engineer) -> dict[str, Any]:
    return _remove(runtime, "absence", absence_id, who)


@router.get("/v1/audit")
def audit(runtime: RuntimeDep, limit: int = 100) -> dict[str, Any]:
    """Newest first: who added or removed which absence or override, and when."""
    return {"audit": runtime.roster.audit(max(1, min(limit, 1000)))}
