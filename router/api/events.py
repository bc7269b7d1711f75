"""POST /v1/events: the native schema, one event or an array of up to 1,000."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from router.api.auth import require_token
from router.api.body import read_json
from router.api.deps import RuntimeDep, SendDep
from router.api.intake import check, enqueue, invalid
from router.events import EventIn

router = APIRouter()
MAX_BATCH = 1000
_BATCH = TypeAdapter(list[EventIn])


def _describe(error: ValidationError, batch: bool) -> list[str]:
    said = []
    for item in error.errors(include_url=False):
        index, *location = item["loc"]
        prefix = f"[{index}] " if batch else ""
        field = ".".join(str(part) for part in location) or "event"
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        said.append(f"{prefix}{field}: {message}")
    return said


@router.post("/v1/events", status_code=202, dependencies=[Depends(require_token)])
def post_events(
    runtime: RuntimeDep,
    send: SendDep,
    body: Any = Depends(read_json),  # noqa: B008
) -> Any:
    batch = isinstance(body, list)
    items = body if batch else [body]
    if not items or len(items) > MAX_BATCH:
        return invalid(f"send 1 to {MAX_BATCH} events", [f"body: {len(items)} events"])
    try:
        raw = _BATCH.validate_python(items)
    except ValidationError as error:
        return invalid("Event object is invalid", _describe(error, batch))
    events, errors = check(runtime, raw)
    if errors:
        return invalid("Event object is invalid", errors)
    queued = enqueue(runtime, send, raw, events)
    return JSONResponse(
        {
            "status": "accepted",
            "events": [{"event_id": q.event_id, "dedup_key": q.event["dedup_key"]} for q in queued],
        },
        status_code=202,
    )
