"""Instants and wall-clock times: parse, localise, format.

Everything the core stores is an aware UTC datetime; wall-clock arithmetic
(handoffs, business hours, deadlines) happens in the team's zone.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def require_aware(moment: datetime, what: str = "now") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")
    return moment


def parse_instant(text: str, naive_zone: ZoneInfo) -> datetime:
    """ISO 8601 to an aware UTC datetime; a naive value is wall-clock time in `naive_zone`."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    try:
        if parsed.tzinfo is None:
            parsed = wall_clock(parsed.date(), parsed.time(), naive_zone)
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+00:01 is in year 0 in UTC
        raise ValueError(f"{text!r} is out of range") from None


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant at which clocks in `zone` show `day` `at`.

    In the autumn overlap the first (daylight) occurrence is taken; in the spring
    gap, a time that never shows on the clock is read with the offset in force
    before the jump (02:30 on 2027-03-14 Pacific is 10:30Z, which the clock shows
    as 03:30 PDT), as zoneinfo does.
    """
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return wall_clock(day, time(0, 0), zone)


def local_day_span(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[first 00:00, last+1 00:00) in `zone`: whole days, as UTC instants."""
    return local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)


@functools.lru_cache(maxsize=4096)  # a fold names the same few instants thousands of times
def iso_z(moment: datetime) -> str:
    """UTC, second precision, `Z` suffix: 2026-11-26T17:00:00Z."""
    utc = require_aware(moment, "instant").astimezone(UTC).replace(microsecond=0)
    return utc.isoformat().replace("+00:00", "Z")
