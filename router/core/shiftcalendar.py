"""The on-call calendar as the console shows it: which shifts are still ahead, and who is
on call on each local day (a shift may hand over mid-day). Pure: every function takes
`now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from router.core.calendar import holiday_name
from router.core.rotation import Shift
from router.core.rules.team import Team
from router.core.times import local_day_span, require_aware


def shift_has_ended(end: datetime, now: datetime) -> bool:
    """A shift [start, end) is over once `now` reaches its end: it can no longer be
    taken or swapped (an override for it would change nothing but the past)."""
    return require_aware(end, "end") <= require_aware(now)


def shifts_ahead(shifts: list[Shift], now: datetime) -> list[Shift]:
    """The shifts not yet over, the current one first."""
    return [shift for shift in shifts if not shift_has_ended(shift.end, now)]


@dataclass(frozen=True, slots=True)
class DayPiece:
    """The part of one shift that falls on one local day, from `now` on."""

    shift: Shift
    start: datetime
    end: datetime
    current: bool
    """The shift on call at `now`."""
    starts_mid_day: bool
    """The shift begins during the day (a handoff): the calendar says "from 09:00"."""
    ends_mid_day: bool


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    pieces: list[DayPiece]
    holiday: str | None
    today: bool


def calendar_days(
    shifts: list[Shift], first: date, last: date, team: Team, now: datetime
) -> list[CalendarDay]:
    """Each local day from `first` to `last` with the shifts on it: what is already over
    today is left out, so today starts with the current shift."""
    zone: ZoneInfo = team.zone
    today = require_aware(now).astimezone(zone).date()
    days = []
    day = first
    while day <= last:
        day_start, day_end = local_day_span(day, day, zone)
        shown_from = max(day_start, now)
        pieces = [
            DayPiece(
                shift,
                max(shift.start, day_start),
                min(shift.end, day_end),
                current=shift.covers(now),
                starts_mid_day=shift.start > day_start,
                ends_mid_day=shift.end < day_end,
            )
            for shift in shifts
            if shift.start < day_end and shown_from < shift.end
        ]
        days.append(CalendarDay(day, pieces, holiday_name(day, team), day == today))
        day += timedelta(days=1)
    return days


def calendar_weeks(days: list[CalendarDay]) -> list[list[CalendarDay | None]]:
    """The days in rows of seven, Monday first; None pads the first and last weeks."""
    if not days:
        return []
    cells: list[CalendarDay | None] = [None] * days[0].day.weekday()
    cells += days
    cells += [None] * (-len(cells) % 7)
    return [cells[n : n + 7] for n in range(0, len(cells), 7)]
