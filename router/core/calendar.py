"""Business hours and quiet hours: nights, weekends and public holidays, in team time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from router.core.rules.team import Team
from router.core.times import require_aware, wall_clock

_SEARCH_DAYS = 366


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    # The calendar is computed, not fetched: this stays a pure function of its arguments.
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year).items())


def holiday_name(day: date, team: Team) -> str | None:
    for extra in team.holidays.extra:
        if extra.date == day:
            return extra.name
    return _public_holidays(team.holidays.country, team.holidays.subdivision, day.year).get(day)


def is_business_day(day: date, team: Team) -> bool:
    return team.business_hours.is_business_weekday(day) and holiday_name(day, team) is None


def business_window(day: date, team: Team) -> tuple[datetime, datetime]:
    hours = team.business_hours
    return wall_clock(day, hours.start, team.zone), wall_clock(day, hours.end, team.zone)


def quiet_reason(now: datetime, team: Team) -> str | None:
    """None during business hours; otherwise why it is quiet, for a decision's reason."""
    local = require_aware(now).astimezone(team.zone)
    day = local.date()
    name = holiday_name(day, team)
    if name is not None:
        return f"a holiday ({name})"
    if not team.business_hours.is_business_weekday(day):
        return "the weekend" if day.weekday() >= 5 else "a day without business hours"
    opens, closes = business_window(day, team)
    if opens <= now < closes:
        return None
    return "night (before business hours)" if now < opens else "night (after business hours)"


def next_business_start(now: datetime, team: Team) -> datetime:
    """The first instant at or after `now` that falls in business hours."""
    day = require_aware(now).astimezone(team.zone).date()
    for offset in range(_SEARCH_DAYS):
        candidate = day + timedelta(days=offset)
        if not is_business_day(candidate, team):
            continue
        opens, closes = business_window(candidate, team)
        if now < opens:
            return opens
        if now < closes:
            return now
    raise ValueError(f"no business hours within {_SEARCH_DAYS} days of {now.isoformat()}")
