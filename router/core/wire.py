"""The native event schema read straight from request bytes: POST /v1/events' fast path.

`EventIn` (pydantic) is the schema of record: it says what is wrong, field by field. Most
requests are right, though, and for them reading JSON into Python values, validating
those into models and copying the models into `Event`s cost three times what the rest
of the request did (docs/performance.md). `read_events` decodes the bytes with msgspec
into structs that carry EventIn's types and bounds, then settles each into an `Event`.

It accepts only what EventIn accepts, and yields the same events: anything it is not
sure of (a string pydantic would strip, a time that is not plain RFC 3339, an unknown
pipeline, an oversized field, any decode error) returns None, and the caller takes the
schema-of-record path, which accepts it or names what is wrong (tests/test_wire.py
holds the two paths to one table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo

import msgspec

from router.core.events import (
    EARLIEST,
    GROWTH,
    LATEST,
    Action,
    Event,
    Limits,
    Link,
    default_dedup_key,
    link_problem,
    oversized,
)
from router.core.rules import Rules
from router.core.rules.routing import Severity
from router.core.times import require_aware


def _text(min_length: int = 0, max_length: int | None = None) -> msgspec.Meta:
    return msgspec.Meta(min_length=min_length, max_length=max_length)


class _LinkWire(msgspec.Struct, forbid_unknown_fields=True):
    href: Annotated[str, _text(1, 2048)]
    text: Annotated[str, _text(0, 255)] = ""


class _EventWire(msgspec.Struct, forbid_unknown_fields=True):
    """EventIn's fields, types and bounds; `occurred_at` is read as text and settled by
    hand, so that it means exactly what EventIn makes of it."""

    pipeline: Annotated[str, _text(1)]
    type: Annotated[str, _text(1, 100)]
    summary: Annotated[str, _text(0, 1024)] = ""
    severity: Severity | None = None
    action: Action = "trigger"
    dedup_key: Annotated[str, _text(1, 255)] | None = None
    occurred_at: str | None = None
    source: Annotated[str, _text(0, 255)] | None = None
    details: dict[str, object] = {}
    links: list[_LinkWire] = []


_DECODE: msgspec.json.Decoder[list[_EventWire] | _EventWire] = msgspec.json.Decoder(
    list[_EventWire] | _EventWire
)

# RFC 3339 as pydantic and datetime.fromisoformat read it alike: anything else (a space
# for the T, no seconds, a compact offset, more than six decimals, digits other than
# ASCII's) takes the slow path.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)


class _Unsure(Exception):
    """The fast path cannot vouch for this request: the schema of record decides."""


def _instant(text: str | None, zone: tzinfo, now: datetime) -> datetime:
    if text is None:
        return require_aware(now)
    if not _INSTANT.fullmatch(text):
        raise _Unsure
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _Unsure from None
    if not EARLIEST <= moment < LATEST:
        raise _Unsure
    return moment


# orjson, which the slow path reads bodies with, and which writes timeline entries,
# holds integers to 64 bits; msgspec reads any integer exactly.
_SMALLEST_INT, _LARGEST_INT = -(2**63), 2**64 - 1


def _check_details(details: dict[str, object], depth: int) -> None:
    """No deeper than `depth`, no integer orjson cannot hold, and top-level keys EventIn
    would not strip (they are typed str). One loop over the top level, since details
    are nearly always flat; only nested values are walked."""
    nested: list[tuple[object, int]] = []
    for key, value in details.items():
        if key != key.strip():
            raise _Unsure
        kind = type(value)
        if kind is dict or kind is list:
            nested.append((value, 2))
        elif kind is int and not _SMALLEST_INT <= value <= _LARGEST_INT:  # type: ignore[operator]
            raise _Unsure
    while nested:
        item, level = nested.pop()
        if level > depth:
            raise _Unsure
        for child in item.values() if isinstance(item, dict) else item:  # type: ignore[attr-defined]
            kind = type(child)
            if kind is dict or kind is list:
                nested.append((child, level + 1))
            elif kind is int and not _SMALLEST_INT <= child <= _LARGEST_INT:
                raise _Unsure


# The start of a web URL as `is_web_url` and LinkIn take it, in the form links nearly
# always have: http(s), a plain host, an optional port. Any other (userinfo, IPv6, an
# upper-case scheme) takes the slow path.
_WEB_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?=[/?#]|\Z)")


def _links(wire: list[_LinkWire]) -> list[Link]:
    links = []
    for link in wire:
        href = link.href
        if (
            _WEB_URL.match(href) is None
            or " " in href
            or "\t" in href
            or "\n" in href
            or "\r" in href
        ):
            raise _Unsure
        links.append(Link(href, link.text))
    return links


@dataclass(slots=True)
class _Batch:
    """What one body's events share: the bounds, and the zones and instants already read
    (a batch's events mostly name one pipeline, and often one time)."""

    rules: Rules
    now: datetime
    limits: Limits
    details_depth: int
    measure: bool  # `details` as compact JSON is at most GROWTH times the whole body
    zones: dict[str, tzinfo]
    instants: dict[tuple[str | None, str], datetime]

    def zone(self, pipeline_id: str) -> tzinfo:
        zone = self.zones.get(pipeline_id)
        if zone is None:
            pipeline = self.rules.pipelines.get(pipeline_id)
            if pipeline is None:
                raise _Unsure
            zone = self.rules.team.zone
            if pipeline.source_timezone:
                zone = ZoneInfo(pipeline.source_timezone)
            self.zones[pipeline_id] = zone
        return zone

    def instant(self, text: str | None, pipeline_id: str) -> datetime:
        key = (text, pipeline_id)
        moment = self.instants.get(key)
        if moment is None:
            moment = self.instants[key] = _instant(text, self.zone(pipeline_id), self.now)
        return moment


def _settle(wire: _EventWire, batch: _Batch) -> Event:
    # Written out, not looped over: this runs for every event of a batch.
    pipeline, event_type, summary = wire.pipeline, wire.type, wire.summary
    dedup_key, source = wire.dedup_key, wire.source
    if (
        pipeline != pipeline.strip()
        or event_type != event_type.strip()
        or summary != summary.strip()
        or (dedup_key is not None and dedup_key != dedup_key.strip())
        or (source is not None and source != source.strip())
    ):
        # EventIn strips its strings. Python's strip set holds pydantic-core's (Rust's
        # White_Space, and \x1c-\x1f besides): what Python leaves, pydantic leaves.
        raise _Unsure
    occurred_at = batch.instant(wire.occurred_at, pipeline)  # checks the pipeline
    if wire.details:
        _check_details(wire.details, batch.details_depth)
    event = Event(
        pipeline,
        event_type,
        summary,
        wire.severity,
        wire.action,
        dedup_key or default_dedup_key(pipeline, event_type),
        occurred_at,
        source,
        wire.details,
        _links(wire.links) if wire.links else [],
    )
    limits = batch.limits
    if batch.measure and oversized(event, limits.details_bytes):
        raise _Unsure
    if limits.link_hosts and link_problem(event, limits.link_hosts):
        raise _Unsure  # the allow-list check the schema of record makes, as it makes it
    return event


def read_events(
    body: bytes, rules: Rules, now: datetime, limits: Limits, most: int
) -> list[Event] | None:
    """The events of a valid body of 1 to `most` events, exactly as EventIn and
    `to_event` make them; None when the slow path must decide (see the module's doc)."""
    try:
        decoded = _DECODE.decode(body)
    except msgspec.DecodeError:
        return None
    wires: list[_EventWire] = decoded if isinstance(decoded, list) else [decoded]
    if not 0 < len(wires) <= most:
        return None
    above = 2 if isinstance(decoded, list) else 1  # the event, and a batch's list
    measure = len(body) * GROWTH > limits.details_bytes
    batch = _Batch(rules, now, limits, limits.body_depth - above, measure, {}, {})
    try:
        return [_settle(wire, batch) for wire in wires]
    except _Unsure:
        return None
