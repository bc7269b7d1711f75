"""Notes on an incident: what was found, and an estimate of when it will be fixed.

An estimate is an instant (ISO 8601; without an offset, team time) or a duration from
now like `2d` or `4h` (router.core.durations)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from router.core.durations import parse_duration_s
from router.core.times import parse_instant, require_aware

MAX_NOTE_CHARS = 10_000


def estimate_at(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """When the estimate says the fix is due; ValueError saying how to write it."""
    now = require_aware(now)
    try:
        return now + timedelta(seconds=parse_duration_s(text))
    except ValueError:
        pass
    try:
        return parse_instant(text, zone)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a duration like '2d' or '4h' nor a date and time like "
            "'2026-12-01T17:00'"
        ) from None
