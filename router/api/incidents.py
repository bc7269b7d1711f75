"""Incidents, their timelines, acknowledge/resolve, who is on call, health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from router.api.auth import require_token
from router.incidents import Incident
from router.links import LinkAction
from router.rotation import shift_json, shifts_between
from router.worker import HEARTBEATS

router = APIRouter()
HEARTBEAT_FRESH_S = 30


def _incident(request: Request, incident_id: str) -> Incident:
    found = request.app.state.runtime.engine.store.get(incident_id)
    if found is None:
        raise HTTPException(404, f"no incident {incident_id}")
    result: Incident = found
    return result


def _view(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json")


@router.get("/v1/incidents")
def list_incidents(
    request: Request, status: Literal["triggered", "open", "acknowledged", "resolved"] | None = None
) -> dict[str, Any]:
    store = request.app.state.runtime.engine.store
    wanted = "triggered" if status == "open" else status
    return {"incidents": [_view(i) for i in store.listing(wanted)]}


@router.get("/v1/incidents/{incident_id}")
def get_incident(request: Request, incident_id: str) -> dict[str, Any]:
    incident = _incident(request, incident_id)
    timeline = request.app.state.runtime.engine.store.timeline(incident_id)
    return {"incident": _view(incident), "timeline": timeline}


def already_done(incident: Incident, action: LinkAction) -> bool:
    return incident.status == "resolved" or (
        action == "acknowledge" and incident.status == "acknowledged"
    )


def perform(request: Request, incident: Incident, action: LinkAction, by: str) -> Incident:
    """Acknowledge or resolve now (escalation stops at once); the resolved notice is queued."""
    runtime = request.app.state.runtime
    runtime.engine.act(incident, action, by, runtime.clock.now())
    if action == "resolve":
        request.app.state.send("router.resolved", incident.id)
    return _incident(request, incident.id)


def _act(request: Request, incident_id: str, action: LinkAction) -> Any:
    incident = _incident(request, incident_id)
    if already_done(incident, action):
        return JSONResponse({"incident": _view(incident), "changed": False})
    return {"incident": _view(perform(request, incident, action, "api")), "changed": True}


@router.post("/v1/incidents/{incident_id}/acknowledge", dependencies=[Depends(require_token)])
def acknowledge(request: Request, incident_id: str) -> Any:
    return _act(request, incident_id, "acknowledge")


@router.post("/v1/incidents/{incident_id}/resolve", dependencies=[Depends(require_token)])
def resolve(request: Request, incident_id: str) -> Any:
    return _act(request, incident_id, "resolve")


@router.get("/v1/oncall")
def oncall(request: Request, days: int = 14) -> dict[str, Any]:
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    shifts = shifts_between(now, now + timedelta(days=max(1, min(days, 90))), runtime.rules)
    return {"now": shift_json(shifts[0]), "next": [shift_json(s) for s in shifts[1:]]}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Any:
    runtime = request.app.state.runtime
    try:
        runtime.redis.ping()
        newest = runtime.redis.zrevrange(HEARTBEATS, 0, 0, withscores=True)
    except Exception as error:  # any Redis failure means not ready
        return JSONResponse({"status": "not ready", "redis": str(error)}, status_code=503)
    age_s = runtime.clock.now().timestamp() - newest[0][1] if newest else None
    if age_s is None or age_s > HEARTBEAT_FRESH_S:
        return JSONResponse({"status": "not ready", "worker": "no recent heartbeat"}, 503)
    return {"status": "ready", "redis": "ok", "worker_heartbeat_age_s": round(age_s, 1)}
