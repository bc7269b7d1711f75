"""Maintenance windows at run time: POST /v1/maintenance sets a one-off window, DELETE
ends it now, GET lists the windows on now or to come, the rules' weekly ones included.
Engineers only, like the roster; each change is in the audit log (GET /v1/audit)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from router.api.auth import Engineer, require_reader
from router.api.deps import RuntimeDep
from router.api.roster import instant, invalid
from router.core.roster import RosterInvalid
from router.service.runtime import Runtime
from router.state.rosterstore import change_json

router = APIRouter(dependencies=[Depends(require_reader)])


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipelines: list[str] | Literal["all"] = Field(description='Pipeline ids, or "all"')
    types: list[str] | None = Field(
        default=None, description="The event types it mutes; left out: every type"
    )
    start: str | None = Field(
        default=None, description="ISO 8601; without an offset, team time; left out: now"
    )
    end: str = Field(description="ISO 8601; without an offset, team time")
    reason: str = Field(min_length=1, max_length=500)
    page_p1: bool = Field(default=True, description="A P1 still pages during the window")


def add_window(runtime: Runtime, body: WindowIn, by: str) -> dict[str, Any]:
    """Raises RosterInvalid naming the field; nothing is written then."""
    now = runtime.clock.now()
    start = now if body.start is None else instant(runtime, body.start, "start")
    end = instant(runtime, body.end, "end")
    added = runtime.roster.add_window(
        body.pipelines, body.types, start, end, body.reason, body.page_p1, by, now
    )
    runtime.confirm_writes()
    return change_json(added)


def end_window(runtime: Runtime, window_id: str, by: str) -> dict[str, Any] | None:
    ended = runtime.roster.end_window(window_id, by, runtime.clock.now())
    if ended is None:
        return None
    runtime.confirm_writes()
    return change_json(ended)


@router.post("/v1/maintenance", status_code=201)
def post_window(runtime: RuntimeDep, body: WindowIn, who: Engineer) -> Any:
    try:
        return {"maintenance": add_window(runtime, body, who)}
    except RosterInvalid as error:
        return invalid(error.field, error.message)


@router.get("/v1/maintenance")
def list_windows(runtime: RuntimeDep) -> dict[str, Any]:
    return {"maintenance": runtime.roster.window_listing(runtime.clock.now())}


@router.delete("/v1/maintenance/{window_id}")
def delete_window(runtime: RuntimeDep, window_id: str, who: Engineer) -> dict[str, Any]:
    ended = end_window(runtime, window_id, who)
    if ended is None:
        raise HTTPException(404, f"no maintenance window {window_id} on now or to come")
    return {"maintenance": ended, "ended": True}
