"""POST /v2/enqueue: PagerDuty Events API v2, same requests and responses.

The routing key names an integration in the rules, which names the pipeline.
critical/error/warning/info become P1/P2/P3/P4; the event type is `payload.class`, else
`payload.custom_details.type`, else `alert`. As in PagerDuty, a trigger without a dedup
key gets a new one (every such trigger is its own incident).
"""

from __future__ import annotations

import hmac
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from router.api.body import read_json
from router.api.deps import AsyncRedisDep, RuntimeDep, SendDep
from router.api.intake import check, enqueue
from router.core.events import EventIn, Instant, LinkIn
from router.core.rules.routing import Integration
from router.service.engine import new_id
from router.service.runtime import Runtime

router = APIRouter()
SEVERITY = {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}


class PdLink(BaseModel):
    href: str = Field(min_length=1, max_length=2048)
    text: str = Field(default="", max_length=255)

    @field_validator("href")
    @classmethod
    def _web_only(cls, href: str) -> str:
        return LinkIn.model_validate({"href": href}).href  # the native rule: http(s) only


class PdPayload(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    summary: str = Field(min_length=1, max_length=1024)
    source: str = Field(min_length=1, max_length=255)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Instant | None = None
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


def _integration_for(runtime: Runtime, routing_key: str) -> Integration | None:
    """Keys come from ROUTER_ROUTING_KEYS (never from the repo); all compared, in
    constant time."""
    found = None
    keys = runtime.settings.routing_keys
    for integration in runtime.rules.routing.integrations:
        key = keys.get(integration.name)
        if key is not None and hmac.compare_digest(
            key.get_secret_value().encode(), routing_key.encode()
        ):
            found = integration
    return found


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
        links=[LinkIn(href=link.href, text=link.text) for link in pd.links],
    )


def _refused(message: str, errors: list[str], status_code: int = 400) -> JSONResponse:
    """PagerDuty's own error body, which its clients expect from this endpoint."""
    return JSONResponse(
        {"status": "invalid event", "message": message, "errors": errors}, status_code
    )


@router.post("/v2/enqueue", status_code=202)
async def enqueue_v2(
    request: Request,
    runtime: RuntimeDep,
    send: SendDep,
    aredis: AsyncRedisDep,
    body: Any = Depends(read_json),  # noqa: B008
) -> Any:
    try:
        pd = PdEvent.model_validate(body)
    except ValidationError as error:
        return _refused("Event object is invalid", [_pd_error(e) for e in error.errors()])
    integration = _integration_for(runtime, pd.routing_key)
    if integration is None:
        return _refused("Invalid routing key", ["routing_key: no integration has this key"], 401)
    try:
        raw = [to_native(pd, integration.pipeline)]
    except ValidationError as error:  # e.g. a `class` too long to be an event type
        said = [_pd_error(e, native=True) for e in error.errors()]
        return _refused("Event object is invalid", said)
    events, errors = check(runtime, raw, len(await request.body()), _PD_NAMES)
    if errors:
        return _refused("Event object is invalid", errors)
    await enqueue(runtime, send, events, f"integration {integration.name}", aredis)
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": events[0].dedup_key},
        status_code=202,
    )


_PD_NAMES = {"details": "payload.custom_details"}  # with component and group, if any
_NATIVE_TO_PD = {"type": "payload.class", "summary": "payload.summary", "source": "payload.source"}


def _pd_error(item: Any, native: bool = False) -> str:
    field = ".".join(str(part) for part in item["loc"])
    if native:  # name the PagerDuty field the native one came from
        field = _NATIVE_TO_PD.get(field, field)
    message = str(item["msg"]).removeprefix("Value error, ")
    return f"'{field}' {message}" if field else message
