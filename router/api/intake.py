"""Shared by every ingestion endpoint: check events against the rules, queue them as one
task: on the urgent queue when the batch carries a P1, so it never waits behind a storm."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

from router.core.classify import classify
from router.core.events import Event, EventIn, EventInvalid, oversized, to_event, too_large
from router.core.rules import Rules
from router.queue.tasks import (
    INGEST,
    INGEST_QUEUE,
    URGENT_QUEUE,
    AsyncSend,
    QueuedEvent,
    encode_batch,
)
from router.service.engine import new_id
from router.service.runtime import Runtime


def invalid(message: str, errors: list[str], status_code: int = 400) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": message, "errors": errors}, status_code
    )


def _link_problem(event: Event, hosts: list[str]) -> str | None:
    """Links reach emails: an allow-list of hosts, when one is set (schemes are checked
    by the model)."""
    if not hosts:
        return None
    for n, link in enumerate(event.links):
        host = (urlsplit(link.href).hostname or "").lower()
        if host not in hosts:
            return f"links.{n}.href: host {host!r} is not in ROUTER_LINK_HOSTS"
    return None


# Compact JSON of parsed values is never longer than the text it was read from, but for
# floats written with an exponent ("1e15" is 1000000000000000.0: 4.5 times) and the few
# bytes a translation adds (a link's empty "text"): a body this much under the cap cannot
# hold a field over it, and is not measured at all (the hot path: one small event).
_GROWTH = 5


def check(
    runtime: Runtime,
    raw: list[EventIn],
    body_bytes: int | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[list[Event], list[str]]:
    """Every event checked before anything is queued: a bad one rejects the whole request.

    Free-form fields are capped at ROUTER_MAX_DETAILS_BYTES (`body_bytes`, the request's
    size, spares the measuring when it is small); `names` says what a translated schema
    calls the native field (PagerDuty's `payload.custom_details` for `details`)."""
    now = runtime.clock.now()
    limit = runtime.settings.max_details_bytes
    measure = body_bytes is None or body_bytes * _GROWTH > limit
    events, errors = [], []
    for index, item in enumerate(raw):
        prefix = f"[{index}] " if len(raw) > 1 else ""
        if measure and (big := oversized(item, limit)):
            named = names or {}
            errors += [f"{prefix}{too_large(named.get(f, f), n, limit)}" for f, n in big]
            continue
        try:
            event = to_event(item, runtime.rules, now)
        except EventInvalid as error:
            errors.append(f"{prefix}{error}")
            continue
        problem = _link_problem(event, runtime.settings.link_hosts)
        if problem:
            errors.append(f"{prefix}{problem}")
        events.append(event)
    return events, errors


def _is_page_now(event: Event, rules: Rules) -> bool:
    """A P1 trigger: its batch goes on the urgent queue. An explicit severity wins, so
    most events skip the rule scan."""
    if event.action != "trigger":
        return False
    return (event.severity or classify(event, rules).severity) == "P1"


async def enqueue(runtime: Runtime, send: AsyncSend, events: list[Event]) -> list[QueuedEvent]:
    """One task for the whole batch, carrying the events as checked: the worker trusts
    them (router.queue.tasks.decode_batch)."""
    received_at = runtime.clock.now()
    items = [QueuedEvent(new_id(), received_at, event) for event in events]
    urgent = any(_is_page_now(event, runtime.rules) for event in events)
    await send(INGEST, encode_batch(items), URGENT_QUEUE if urgent else INGEST_QUEUE)
    return items
