"""POST /v1/alertmanager: Prometheus Alertmanager's webhook (version 4).

Each alert's labels `pipeline`, `type` (else `alertname`) and `severity` (P1-P4, or
critical/error/warning/info); its fingerprint is the dedup key; `firing` triggers and
`resolved` resolves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from router.api.auth import require_token
from router.api.body import read_json
from router.api.deps import AsyncRedisDep, RuntimeDep, SendDep
from router.api.intake import check, enqueue, invalid
from router.api.pagerduty import SEVERITY
from router.core.events import EventIn, Instant, LinkIn, is_web_url

router = APIRouter()


class AmAlert(BaseModel):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: Instant | None = None
    generatorURL: str | None = None
    fingerprint: str = Field(min_length=1)


class AmNotification(BaseModel):
    version: Literal["4"]
    status: str
    receiver: str = ""
    alerts: list[AmAlert] = Field(min_length=1, max_length=1000)


_AM_NAMES = {"details": "labels and annotations", "links": "generatorURL"}


def to_native(alert: AmAlert) -> EventIn:
    labels = alert.labels
    severity = labels.get("severity")
    severity = SEVERITY.get(severity or "", severity)
    details: dict[str, Any] = {"labels": labels}
    if alert.annotations:
        details["annotations"] = alert.annotations
    return EventIn.model_validate(
        {
            "pipeline": labels.get("pipeline", ""),
            "type": labels.get("type") or labels.get("alertname", ""),
            "summary": alert.annotations.get("summary") or labels.get("alertname", ""),
            "severity": severity,
            "action": "trigger" if alert.status == "firing" else "resolve",
            "dedup_key": alert.fingerprint,
            "occurred_at": alert.startsAt if alert.status == "firing" else None,
            "source": "alertmanager",
            "details": details,
            "links": [LinkIn(href=url)] if (url := alert.generatorURL) and is_web_url(url) else [],
        }
    )


@router.post("/v1/alertmanager", status_code=202)
async def alertmanager(
    request: Request,
    runtime: RuntimeDep,
    send: SendDep,
    aredis: AsyncRedisDep,
    sender: Annotated[str, Depends(require_token)],
    body: Any = Depends(read_json),  # noqa: B008
) -> Any:
    try:
        notification = AmNotification.model_validate(body)
        raw = [to_native(alert) for alert in notification.alerts]
    except ValidationError as error:
        errors = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        ]
        return invalid("Alertmanager notification is invalid", errors)
    events, errors = check(runtime, raw, len(await request.body()), _AM_NAMES)
    if errors:
        return invalid("Alertmanager notification is invalid", errors)
    queued = await enqueue(runtime, send, events, sender, aredis)
    return JSONResponse({"status": "accepted", "events": len(queued)}, status_code=202)
