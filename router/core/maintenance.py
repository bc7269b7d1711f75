"""Maintenance windows: the times events of some pipelines (and types) page nobody.

A window is one-off (two instants, set at run time) or weekly ("Sat 02:00-06:00" in
team time, from `maintenance:` in routing.yaml). A weekly window keeps its wall-clock
hours across DST changes (`_instant` says how it reads the hour skipped and the hour
that comes twice).

Pure: every function that depends on the time takes `now`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LONGEST = timedelta(days=14)
"""A one-off window ends at most this long after it starts."""

_WEEKLY = re.compile(
    r"^(?P<day>[A-Za-z]{3})\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)


class WindowInvalid(ValueError):
    """What is wrong with a window; `field` names the request's field, when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


def _clock(text: str, field: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0 and field == "end":
        return time(0, 0)  # the end of the day: the next day's midnight
    if not (0 <= hours <= 23 and 0 <= minutes <= 59):
        raise WindowInvalid(f"{text!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True)
class Span:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def holds(self, now: datetime) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Weekly:
    """Every week on `weekday` (0 is Monday) from `start` to `end`, local time; an end
    at or before the start is on the next day."""

    weekday: int
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Weekly:
        """'Sat 02:00-06:00'; 'Fri 22:00-02:00' ends on Saturday; '-24:00' is midnight."""
        found = _WEEKLY.match(text.strip())
        if found is None:
            raise WindowInvalid(f"{text!r} is not like 'Sat 02:00-06:00'")
        day = found["day"].capitalize()
        if day not in WEEKDAYS:
            raise WindowInvalid(f"{found['day']!r} is not one of {', '.join(WEEKDAYS)}")
        start, end = _clock(found["start"], "start"), _clock(found["end"], "end")
        if start == end:
            raise WindowInvalid(f"{text!r} starts and ends at the same time")
        return cls(WEEKDAYS.index(day), start, end)

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.start:%H:%M}-{self.end:%H:%M}"

    def on(self, day: date, zone: ZoneInfo) -> Span:
        """The occurrence that starts on local `day` (a day of its weekday)."""
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return Span(_instant(day, self.start, zone), _instant(end_day, self.end, zone))

    def spans(self, zone: ZoneInfo, since: datetime, until: datetime) -> list[Span]:
        """The occurrences that overlap [since, until), in order."""
        first = since.astimezone(zone).date() - timedelta(days=7)
        last = until.astimezone(zone).date()
        found = []
        day = first + timedelta(days=(self.weekday - first.weekday()) % 7)
        while day <= last:
            span = self.on(day, zone)
            if span.end > since and span.start < until:
                found.append(span)
            day += timedelta(days=7)
        return found


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """Local `clock` on `day` as a UTC instant. A time that comes twice (the clocks fall
    back) is its first. One that never comes (they spring forward) is the end of the
    skipped hour, when the clocks change, as cron runs a job set in that hour."""
    local = datetime.combine(day, clock, tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # zoneinfo reads it with the offset from before the change: past the change by as
    # much as the time is into the skipped hour; back to the change itself
    offset, minute = instant.astimezone(zone).utcoffset(), timedelta(minutes=1)
    while (instant - minute).astimezone(zone).utcoffset() == offset:
        instant -= minute
    return instant


@dataclass(frozen=True)
class Window:
    """Events of `pipelines` (None: all) and `types` (None: all) open or fold into
    incidents as usual during the window, but page nobody; a P1 pages anyway unless
    `page_p1` is False. `once` or `weekly`, never both."""

    id: str
    reason: str
    pipelines: frozenset[str] | None = None
    types: frozenset[str] | None = None
    page_p1: bool = True
    once: Span | None = None
    weekly: Weekly | None = None

    def covers(self, pipeline: str, event_type: str | None = None) -> bool:
        """The window is over this pipeline (and type, if given)."""
        if self.pipelines is not None and pipeline not in self.pipelines:
            return False
        return event_type is None or self.types is None or event_type in self.types

    def spans(self, zone: ZoneInfo, since: datetime, until: datetime) -> list[Span]:
        """Its occurrences that overlap [since, until)."""
        if self.once is not None:
            overlaps = self.once.end > since and self.once.start < until
            return [self.once] if overlaps else []
        assert self.weekly is not None
        return self.weekly.spans(zone, since, until)

    def span_at(self, now: datetime, zone: ZoneInfo) -> Span | None:
        """The occurrence `now` is in, if any."""
        return next(iter(self.spans(zone, now, now + timedelta(microseconds=1))), None)

    def covering(self, names: Mapping[str, str] | None = None) -> str:
        """The pipelines it covers in words, by their `names` (id -> name; none: ids)."""
        if self.pipelines is None:
            return "all pipelines"
        return ", ".join((names or {}).get(p, p) for p in sorted(self.pipelines))

    def mutes(self, severity: str) -> bool:
        return severity != "P1" or not self.page_p1

    def describe(self) -> str:
        """For a timeline or a decision's reason: which window, and why."""
        when = f"weekly {self.weekly}" if self.weekly is not None else "one-off"
        return f"maintenance window {self.id} ({when}): {self.reason}"


def one_off(
    window_id: str,
    reason: str,
    start: datetime,
    end: datetime,
    pipelines: Iterable[str] | None = None,
    types: Iterable[str] | None = None,
    page_p1: bool = True,
) -> Window:
    """A one-off window, checked: its end after its start, at most LONGEST long."""
    if start.tzinfo is None or end.tzinfo is None:
        raise WindowInvalid("give the time zone (an offset or Z)", "start")
    if end <= start:
        raise WindowInvalid(f"{end.isoformat()} is not after the start", "end")
    if end - start > LONGEST:
        raise WindowInvalid(f"a window lasts at most {LONGEST.days} days", "end")
    return Window(
        window_id,
        reason,
        None if pipelines is None else frozenset(pipelines),
        None if types is None else frozenset(types),
        page_p1,
        once=Span(start.astimezone(UTC), end.astimezone(UTC)),
    )


@dataclass(frozen=True)
class Muted:
    """An event muted by `window`'s occurrence [since, until): decided again at `until`."""

    window: Window
    since: datetime
    until: datetime

    def describe(self, zone: ZoneInfo) -> str:
        """For a decision's reason: which window, why, and until when (team time)."""
        until = self.until.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")
        return f"{self.window.describe()}, until {until}"


def muting(
    windows: Sequence[Window],
    pipeline: str,
    event_type: str,
    severity: str,
    now: datetime,
    zone: ZoneInfo,
) -> Muted | None:
    """The window that keeps this event from paging at `now`: of those over it that
    mute its severity, the one that ends last (it pages once they all end)."""
    found: Muted | None = None
    for window in windows:
        if not window.covers(pipeline, event_type) or not window.mutes(severity):
            continue
        span = window.span_at(now, zone)
        if span is not None and (found is None or span.end > found.until):
            found = Muted(window, span.start, span.end)
    return found


def ended(
    windows: Sequence[Window], since: datetime, until: datetime, zone: ZoneInfo
) -> list[tuple[Window, Span]]:
    """The occurrences that ended in (since, until], in the order they ended: what the
    scheduler acts on at a window's end."""
    found = [
        (window, span)
        for window in windows
        for span in window.spans(zone, since - LONGEST, until)
        if since < span.end <= until and span.start < span.end  # not one ended unstarted
    ]
    return sorted(found, key=lambda pair: pair[1].end)


def started(
    windows: Sequence[Window], since: datetime, until: datetime, zone: ZoneInfo
) -> list[tuple[Window, Span]]:
    """The occurrences that started in (since, until] and are still on at `until`, in
    the order they started: what the team chat hears of."""
    found = [
        (window, span)
        for window in windows
        for span in window.spans(zone, since, until + timedelta(microseconds=1))
        if since < span.start <= until < span.end
    ]
    return sorted(found, key=lambda pair: pair[1].start)
