"""POST /v2/enqueue: PagerDuty Events API v2, same requests and responses.

The routing key names an integration in the rules, which names the pipeline.
critical/error/warning/info become P1/P2/P3/P4; the event type is `payload.class`, else
`payload.custom_details.type`, else `alert`. As in PagerDuty, a trigger without a dedup
key gets a new one (every such trigger is its own incident).
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from router.api.intake import check, enqueue, invalid
from router.engine import new_id
from router.events import EventIn, Link

router = APIRouter()
SEVERITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}


class PdLink(BaseModel):
    href: str
    text: str = ""


class PdPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: Any = None


class PdEvent(BaseModel):
    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    payload: PdPayload | None = None
    client: str | None = None
    client_url: str | None = None
    links: list[PdLink] = Field(default_factory=list)
    images: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needs(self) -> PdEvent:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("'payload' is missing or blank")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError("'dedup_key' is missing or blank")
        return self


def _pipeline_for(request: Request, routing_key: str) -> str | None:
    for integration in request.app.state.runtime.rules.routing.integrations:
        if hmac.compare_digest(integration.routing_key.encode(), routing_key.encode()):
            return str(integration.pipeline)
    return None


def to_native(pd: PdEvent, pipeline: str) -> EventIn:
    payload = pd.payload
    details = payload.custom_details if payload else None
    details = details if isinstance(details, dict) else ({"details": details} if details else {})
    event_type = (payload.class_ if payload else None) or details.get("type") or "alert"
    extra = {"component": payload.component, "group": payload.group} if payload else {}
    return EventIn(
        pipeline=pipeline,
        type=str(event_type),
        summary=payload.summary if payload else "",
        severity=SEVERITY[payload.severity] if payload else None,
        action=pd.event_action,
        dedup_key=pd.dedup_key or new_id(),
        occurred_at=payload.timestamp if payload else None,
        source=payload.source if payload else pd.client,
        details={**details, **{k: v for k, v in extra.items() if v}},
        links=[Link(href=link.href, text=link.text) for link in pd.links],
    )


@router.post("/v2/enqueue", status_code=202)
def enqueue_v2(request: Request, body: Any = Body(...)) -> Any:  # noqa: B008
    try:
        pd = PdEvent.model_validate(body)
    except ValidationError as error:
        return invalid("Event object is invalid", [_pd_error(e) for e in error.errors()])
    pipeline = _pipeline_for(request, pd.routing_key)
    if pipeline is None:
        return invalid("Invalid routing key", ["routing_key: no integration has this key"], 401)
    raw = [to_native(pd, pipeline)]
    events, errors = check(request, raw)
    if errors:
        return invalid("Event object is invalid", errors)
    enqueue(request, raw, events)
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": events[0].dedup_key},
        status_code=202,
    )


def _pd_error(item: Any) -> str:
    field = ".".join(str(part) for part in item["loc"])
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"'{field}' {message}" if field else message
