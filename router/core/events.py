"""The native event schema: what a pipeline tells the router.

`EventIn` is the wire form (JSON); `to_event` checks it against the rules and fixes
its time: an `occurred_at` with an offset or `Z` is converted to UTC, a naive one is
wall-clock time in the pipeline's source zone (the team's zone unless set), because
client systems stamp local time (the seed's timestamp problem).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import msgspec
import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from router.core.rules import Rules
from router.core.rules.routing import Severity
from router.core.times import require_aware

Action = Literal["trigger", "acknowledge", "resolve"]


class EventInvalid(ValueError):
    """Names the field that is wrong and what is wrong with it."""


# Instants outside these bounds are refused: nothing real happens then, and the time
# arithmetic of decisions (zones, + 15 minutes) must never overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


_NUMBER = re.compile(r"\s*[-+]?[0-9]+(\.[0-9]*)?\s*")


def _iso_text(example: str) -> BeforeValidator:
    """Dates and instants are ISO 8601 text, as the schema says: pydantic alone would also
    take a number, or a string of digits, as Unix time (`occurred_at: 0` was 1970)."""

    def check(value: object) -> object:
        if isinstance(value, date) or (isinstance(value, str) and not _NUMBER.fullmatch(value)):
            return value
        raise PydanticCustomError("iso_text", f"must be ISO 8601 text, like {example}")

    return BeforeValidator(check)


Instant = Annotated[datetime, _iso_text("2026-11-24T10:00:00Z")]
"""A datetime read from ISO 8601 text only (the translated schemas use it too)."""
Day = Annotated[date, _iso_text("2026-11-24")]


def is_web_url(href: str) -> bool:
    parts = urlsplit(href)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True, slots=True)
class Link:
    """A link an event carries into emails, checked at the edge (LinkIn). A dataclass:
    incidents (pydantic) keep them, and msgspec encodes them as well."""

    href: str
    text: str = ""


class LinkIn(BaseModel):
    """A link as sent: http or https only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    href: str = Field(min_length=1, max_length=2048)
    text: str = Field(default="", max_length=255)

    @field_validator("href")
    @classmethod
    def _web_only(cls, href: str) -> str:
        if not is_web_url(href):
            raise ValueError("must be an http or https URL with a host")
        if any(ch in href for ch in "\r\n\t "):
            raise ValueError("must not contain spaces or line breaks")
        return href


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    pipeline: str = Field(min_length=1)
    type: str = Field(min_length=1, max_length=100)
    summary: str = Field(default="", max_length=1024)
    severity: Severity | None = None
    action: Action = "trigger"
    dedup_key: str | None = Field(default=None, min_length=1, max_length=255)
    occurred_at: Instant | None = None
    source: str | None = Field(default=None, max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)
    links: list[LinkIn] = Field(default_factory=list)


Aware = Annotated[datetime, msgspec.Meta(tz=True)]
"""A datetime with its offset: the queue refuses a naive one (msgspec)."""

Details = dict[str, object]
"""An event's free-form JSON object, capped in bytes at the edge (docs/limits.md)."""


class Event(msgspec.Struct, frozen=True):
    """An event checked against the rules: known pipeline, dedup key set, time in UTC.

    Built once at the edge (router.core.wire, or `to_event`), or by the router itself: it
    travels on the queue as it is (router.queue) and the worker trusts it. A msgspec
    struct, because a pydantic model cost as much to build as the rest of the intake,
    and msgspec encodes and decodes it in one step."""

    pipeline: str
    type: str
    summary: str
    severity: Severity | None
    action: Action
    dedup_key: str
    occurred_at: Aware
    source: str | None
    details: Details
    links: list[Link]


FREE_FORM = ("details", "links")
"""The fields of an event with no shape of their own, capped in bytes (docs/limits.md)."""


def oversized(raw: EventIn | Event, limit: int) -> list[tuple[str, int]]:
    """Each free-form field of `raw` over `limit` bytes as compact JSON, with its size."""
    found = []
    if raw.details and (size := len(orjson.dumps(raw.details))) > limit:
        found.append(("details", size))
    if raw.links:
        links = [{"href": link.href, "text": link.text} for link in raw.links]
        if (size := len(orjson.dumps(links))) > limit:
            found.append(("links", size))
    return found


def nests_deeper(value: object, limit: int) -> bool:
    """True when `value` nests deeper than `limit` levels (iterative: no recursion to
    blow; only containers are visited, since a batch of events is mostly scalars)."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[str, object] | list[object], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


# Compact JSON of parsed values is never longer than the text it was read from but for
# floats written with an exponent ("1e15" is 1000000000000000.0: 4.5 times) and the few
# bytes a translation adds (a link's empty "text"): a body this much under the cap cannot
# hold a field over it, and is not measured at all (the hot path: one small event).
GROWTH = 5


@dataclass(frozen=True, slots=True)
class Limits:
    """What the settings bound in an event (router.config.settings)."""

    details_bytes: int  # ROUTER_MAX_DETAILS_BYTES: each free-form field, as compact JSON
    body_depth: int  # levels a body may nest: the event, a batch's list, then `details`
    link_hosts: Sequence[str]  # ROUTER_LINK_HOSTS; empty: any host


def link_problem(event: Event, hosts: Sequence[str]) -> str | None:
    """Links reach emails: an allow-list of hosts, when one is set (schemes are checked
    by the model)."""
    if not hosts:
        return None
    for n, link in enumerate(event.links):
        host = (urlsplit(link.href).hostname or "").lower()
        if host not in hosts:
            return f"links.{n}.href: host {host!r} is not in ROUTER_LINK_HOSTS"
    return None


def check_events(
    raw: list[EventIn],
    rules: Rules,
    now: datetime,
    limits: Limits,
    body_bytes: int | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[list[Event], list[str]]:
    """Every event checked before anything is queued: a bad one rejects the whole request.

    Free-form fields are capped at `limits.details_bytes` (`body_bytes`, the request's
    size, spares the measuring when it is small); `names` says what a translated schema
    calls the native field (PagerDuty's `payload.custom_details` for `details`)."""
    limit = limits.details_bytes
    measure = body_bytes is None or body_bytes * GROWTH > limit
    events, errors = [], []
    for index, item in enumerate(raw):
        prefix = f"[{index}] " if len(raw) > 1 else ""
        if measure and (big := oversized(item, limit)):
            named = names or {}
            errors += [f"{prefix}{too_large(named.get(f, f), n, limit)}" for f, n in big]
            continue
        try:
            event = to_event(item, rules, now)
        except EventInvalid as error:
            errors.append(f"{prefix}{error}")
            continue
        problem = link_problem(event, limits.link_hosts)
        if problem:
            errors.append(f"{prefix}{problem}")
        events.append(event)
    return events, errors


def too_large(field: str, size: int, limit: int) -> str:
    return f"{field}: {size:,} bytes, over the {limit:,}-byte limit (ROUTER_MAX_DETAILS_BYTES)"


def default_dedup_key(pipeline: str, event_type: str) -> str:
    return f"{pipeline}/{event_type}"


def parse_event(data: object, rules: Rules, now: datetime) -> Event:
    """Validate raw JSON data into an Event; `now` stands in for a missing `occurred_at`."""
    if not isinstance(data, dict):
        raise EventInvalid("event: must be a JSON object")
    try:
        raw = EventIn.model_validate(data)
    except ValidationError as error:
        raise EventInvalid(_describe(error)) from None
    return to_event(raw, rules, now)


def unknown_pipeline(name: str, rules: Rules) -> EventInvalid:
    return EventInvalid(
        f"pipeline: unknown pipeline {name!r} (known: {', '.join(rules.pipelines)})"
    )


def to_event(raw: EventIn, rules: Rules, now: datetime) -> Event:
    pipeline = rules.pipelines.get(raw.pipeline)
    if pipeline is None:
        raise unknown_pipeline(raw.pipeline, rules)
    zone = ZoneInfo(pipeline.source_timezone) if pipeline.source_timezone else rules.team.zone
    return event_in_zone(raw, zone, now)


def event_in_zone(raw: EventIn, zone: tzinfo, now: datetime) -> Event:
    """The event, a naive `occurred_at` read in `zone`; `now` for a missing one. Not
    checked against the rules: `to_event` is, but for a version-1 queue item whose
    pipeline the rules no longer have (router.queue.tasks), which the fold sets aside."""
    occurred_at = raw.occurred_at or require_aware(now)
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=zone)
    try:
        occurred_at = occurred_at.astimezone(UTC)
    except OverflowError:
        raise EventInvalid("occurred_at: out of range") from None
    if not EARLIEST <= occurred_at < LATEST:
        raise EventInvalid("occurred_at: must be between 1970 and 2200")
    return Event(
        pipeline=raw.pipeline,
        type=raw.type,
        summary=raw.summary,
        severity=raw.severity,
        action=raw.action,
        dedup_key=raw.dedup_key or default_dedup_key(raw.pipeline, raw.type),
        occurred_at=occurred_at,
        source=raw.source,
        details=raw.details,
        links=[Link(link.href, link.text) for link in raw.links],
    )


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "event"
        message = "unknown field" if item["type"] == "extra_forbidden" else item["msg"]
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
