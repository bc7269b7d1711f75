"""POST /v1/events: the native schema, one event or an array of up to 1,000."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from router.api.auth import authorize
from router.api.body import read_json_within, too_deep
from router.api.deps import state_of
from router.api.intake import enqueue, invalid, limits_of
from router.core.events import Event, EventIn, Limits, check_events, nests_deeper
from router.core.rules import Rules
from router.core.wire import read_events
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


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a request's events are refused: every problem, each naming its field."""

    message: str
    errors: list[str]


def read_checked(
    body: object, body_bytes: int, rules: Rules, now: datetime, limits: Limits
) -> list[Event] | Refused:
    """The schema of record: a parsed body's events, through EventIn and `check_events`,
    or what is wrong with them. Raises an HTTP 400 for `details` nested too deep."""
    batch = isinstance(body, list)
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_BATCH:
        return Refused(f"send 1 to {MAX_BATCH} events", [f"body: {len(items)} events"])
    try:
        raw = _BATCH.validate_python(items)
    except ValidationError as error:
        return Refused("Event object is invalid", _describe(error, batch))
    # Only `details` can nest in a valid event: checked there, not over the whole body
    # (the walk cost as much as the validation). The body's levels above it: the event,
    # and the batch's list.
    above = 2 if batch else 1
    depth = limits.body_depth - above
    if any(item.details and nests_deeper(item.details, depth) for item in raw):
        raise too_deep()
    events, errors = check_events(raw, rules, now, limits, body_bytes)
    return Refused("Event object is invalid", errors) if errors else events


async def post_events(request: Request) -> Response:
    """A plain Starlette endpoint: FastAPI's dependency solving cost more than the rest of
    a one-event request (docs/benchmarks.md). Its schema is written in router.api.schema.

    Most bodies are read by the fast path (router.core.wire); what it is unsure of, the
    schema of record accepts or refuses, naming each wrong field."""
    state = state_of(request)
    runtime: Runtime = state.runtime
    aredis = state.async_redis()
    sender = await authorize(runtime, aredis, request.headers.get("authorization", ""))
    body_bytes = await request.body()
    now, limits = runtime.clock.now(), limits_of(runtime)
    events = read_events(body_bytes, runtime.rules, now, limits, MAX_BATCH)
    if events is None:
        body = await read_json_within(request, None)
        checked = read_checked(body, len(body_bytes), runtime.rules, now, limits)
        if isinstance(checked, Refused):
            return invalid(checked.message, checked.errors)
        events = checked
    queued = await enqueue(runtime, state.send, events, sender, aredis)
    accepted = [{"event_id": q.event_id, "dedup_key": q.event.dedup_key} for q in queued]
    return Response(
        orjson.dumps({"status": "accepted", "events": accepted}),
        202,
        media_type="application/json",
    )


router.add_route("/v1/events", post_events, methods=["POST"], include_in_schema=False)
