"""Shared by every ingestion endpoint: check events against the rules, queue them as one task."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from router.engine import new_id
from router.events import Event, EventIn, EventInvalid, to_event
from router.times import iso_z


def invalid(message: str, errors: list[str], status_code: int = 400) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": message, "errors": errors}, status_code
    )


def check(request: Request, raw: list[EventIn]) -> tuple[list[Event], list[str]]:
    """Every event checked before anything is queued: a bad one rejects the whole request."""
    runtime = request.app.state.runtime
    now = runtime.clock.now()
    events, errors = [], []
    for index, item in enumerate(raw):
        try:
            events.append(to_event(item, runtime.rules, now))
        except EventInvalid as error:
            errors.append(f"[{index}] {error}" if len(raw) > 1 else str(error))
    return events, errors


def enqueue(request: Request, raw: list[EventIn], events: list[Event]) -> list[dict[str, Any]]:
    """One task for the whole batch; the items keep the event as sent (naive times too)."""
    runtime = request.app.state.runtime
    received_at = iso_z(runtime.clock.now())
    items = [
        {
            "event_id": new_id(),
            "received_at": received_at,
            "event": item.model_copy(update={"dedup_key": event.dedup_key}).model_dump(
                mode="json", exclude_none=True
            ),
        }
        for item, event in zip(raw, events, strict=True)
    ]
    request.app.state.send("router.ingest", items)
    return items
