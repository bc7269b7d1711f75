from __future__ import annotations

from datetime import date

import pytest

from router.core.calendar import holiday_name, is_business_day, next_business_start, quiet_reason
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import pacific

# (Pacific wall-clock time, why it is quiet or None, next business-hours start in UTC)
CASES = [
    # An ordinary Tuesday.
    ("2026-11-24 08:59", "night (before business hours)", "2026-11-24T17:00:00Z"),
    ("2026-11-24 09:00", None, "2026-11-24T17:00:00Z"),
    ("2026-11-24 17:59", None, "2026-11-25T01:59:00Z"),  # in business hours: now
    ("2026-11-24 18:00", "night (after business hours)", "2026-11-25T17:00:00Z"),
    ("2026-11-24 23:59", "night (after business hours)", "2026-11-25T17:00:00Z"),
    ("2026-11-25 00:00", "night (before business hours)", "2026-11-25T17:00:00Z"),
    # Thanksgiving (public) and the day after (a company holiday in the rules).
    ("2026-11-25 20:00", "night (after business hours)", "2026-11-30T17:00:00Z"),
    ("2026-11-26 11:00", "a holiday (Thanksgiving Day)", "2026-11-30T17:00:00Z"),
    ("2026-11-27 11:00", "a holiday (Day after Thanksgiving)", "2026-11-30T17:00:00Z"),
    # A weekend.
    ("2026-11-28 03:00", "the weekend", "2026-11-30T17:00:00Z"),
    ("2026-11-29 23:59", "the weekend", "2026-11-30T17:00:00Z"),
    # Friday evening before the autumn DST change: Monday 09:00 is PST (UTC-8).
    ("2026-10-30 18:30", "night (after business hours)", "2026-11-02T17:00:00Z"),
    ("2026-11-01 01:30", "the weekend", "2026-11-02T17:00:00Z"),
    # Friday evening before the spring DST change: Monday 09:00 is PDT (UTC-7).
    ("2027-03-12 18:30", "night (after business hours)", "2027-03-15T16:00:00Z"),
    ("2027-03-15 08:30", "night (before business hours)", "2027-03-15T16:00:00Z"),
    # Observed holiday: 2026-07-04 is a Saturday, so Friday 3 July is the day off.
    ("2026-07-03 10:00", "a holiday (Independence Day (observed))", "2026-07-06T16:00:00Z"),
    # Christmas Eve (company) then Christmas Day (public), then a weekend.
    ("2026-12-23 18:00", "night (after business hours)", "2026-12-28T17:00:00Z"),
]


@pytest.mark.parametrize(("local", "reason", "next_start"), CASES)
def test_quiet_hours(rules: Rules, local: str, reason: str | None, next_start: str) -> None:
    now = pacific(local)
    assert quiet_reason(now, rules.team) == reason
    assert iso_z(next_business_start(now, rules.team)) == next_start


@pytest.mark.parametrize(
    ("day", "name", "business"),
    [
        (date(2026, 11, 26), "Thanksgiving Day", False),
        (date(2026, 11, 27), "Day after Thanksgiving", False),
        (date(2026, 11, 30), None, True),
        (date(2026, 12, 25), "Christmas Day", False),
        (date(2027, 1, 1), "New Year's Day", False),
        (date(2027, 1, 18), "Martin Luther King Jr. Day", False),
        (date(2026, 11, 28), None, False),
    ],
)
def test_holidays(rules: Rules, day: date, name: str | None, business: bool) -> None:
    assert holiday_name(day, rules.team) == name
    assert is_business_day(day, rules.team) is business


def test_naive_now_is_refused(rules: Rules) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        quiet_reason(pacific("2026-11-24 10:00").replace(tzinfo=None), rules.team)
