"""Shared by every ingestion endpoint: check events against the rules, queue them as one
task: on the urgent queue when the batch carries a P1, so it never waits behind a storm."""

from __future__ import annotations

from collections.abc import Mapping

import redis.asyncio
from fastapi.responses import JSONResponse

from router.api import flood
from router.api.body import MAX_DEPTH
from router.api.errors import error_body
from router.core.classify import severity_of
from router.core.events import Event, EventIn, Limits, check_events
from router.core.rules import Rules
from router.queue.tasks import (
    INGEST,
    INGEST_QUEUE,
    URGENT_QUEUE,
    AsyncSend,
    QueuedEvent,
    encode_batch,
)
from router.service.engine import new_ids
from router.service.runtime import Runtime


def invalid(message: str, errors: list[str], status_code: int = 400) -> JSONResponse:
    return JSONResponse(error_body(status_code, message, errors), status_code)


def limits_of(runtime: Runtime) -> Limits:
    settings = runtime.settings
    return Limits(settings.max_details_bytes, MAX_DEPTH, settings.link_hosts)


def check(
    runtime: Runtime,
    raw: list[EventIn],
    body_bytes: int | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[list[Event], list[str]]:
    """router.core.events.check_events with the runtime's rules, clock and settings."""
    return check_events(
        raw, runtime.rules, runtime.clock.now(), limits_of(runtime), body_bytes, names
    )


def _is_page_now(event: Event, rules: Rules) -> bool:
    """A P1 trigger: its batch goes on the urgent queue. An explicit severity wins, so
    most events skip the rule scan."""
    if event.action != "trigger":
        return False
    return severity_of(event, rules) == "P1"


async def enqueue(
    runtime: Runtime,
    send: AsyncSend,
    events: list[Event],
    sender: str,
    aredis: redis.asyncio.Redis,
) -> list[QueuedEvent]:
    """One task for the whole batch, carrying the events as checked: the worker trusts
    them (router.queue.tasks.decode_batch). `sender` (a token's name, an integration's)
    is held to the events limit (router.api.flood)."""
    await flood.admit(runtime, aredis, sender, len(events))
    received_at = runtime.clock.now()
    ids = new_ids(len(events))
    items = [QueuedEvent(id_, received_at, event) for id_, event in zip(ids, events, strict=True)]
    urgent = any(_is_page_now(event, runtime.rules) for event in events)
    await send(INGEST, encode_batch(items), URGENT_QUEUE if urgent else INGEST_QUEUE)
    await flood.count(runtime, aredis, sender, len(events))
    return items
