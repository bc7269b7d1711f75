"""POST /v1/events: the native schema, one event or an array of up to 1,000."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from router.api.auth import authorize
from router.api.body import MAX_DEPTH, nests_deeper, read_json_within, too_deep
from router.api.deps import state_of
from router.api.intake import check, enqueue, invalid
from router.core.events import EventIn
from router.service.runtime import Runtime

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


async def post_events(request: Request) -> Response:
    """A plain Starlette endpoint: FastAPI's dependency solving cost more than the rest of
    a one-event request (docs/benchmarks.md). Its schema is written in router.api.schema."""
    runtime: Runtime = state_of(request).runtime
    await authorize(
        runtime, state_of(request).async_redis(), request.headers.get("authorization", "")
    )
    body = await read_json_within(request, None)
    batch = isinstance(body, list)
    items = body if batch else [body]
    if not items or len(items) > MAX_BATCH:
        return invalid(f"send 1 to {MAX_BATCH} events", [f"body: {len(items)} events"])
    try:
        raw = _BATCH.validate_python(items)
    except ValidationError as error:
        return invalid("Event object is invalid", _describe(error, batch))
    # Only `details` can nest in a valid event: checked there, not over the whole body
    # (the walk cost as much as the validation). The body's levels above it: the event,
    # and the batch's list.
    above = 2 if batch else 1
    if any(item.details and nests_deeper(item.details, MAX_DEPTH - above) for item in raw):
        raise too_deep()
    events, errors = check(runtime, raw, len(await request.body()))
    if errors:
        return invalid("Event object is invalid", errors)
    queued = await enqueue(runtime, state_of(request).send, events)
    accepted = [{"event_id": q.event_id, "dedup_key": q.event.dedup_key} for q in queued]
    return Response(
        orjson.dumps({"status": "accepted", "events": accepted}),
        202,
        media_type="application/json",
    )


router.add_route("/v1/events", post_events, methods=["POST"], include_in_schema=False)
