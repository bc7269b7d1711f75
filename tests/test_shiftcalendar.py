"""The on-call calendar's pure parts (router.core.shiftcalendar) over the seed's rotation,
with fixed clocks (Pacific wall time); no Redis."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from router.core.rotation import shifts_between
from router.core.rules import Rules
from router.core.shiftcalendar import (
    calendar_days,
    calendar_weeks,
    shift_has_ended,
    shifts_ahead,
)
from tests.support import pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"

# (shift end, now) -> over: the end itself is already over (shifts are [start, end))
# fmt: off
ENDED = [
    ("2026-11-23 09:00", "2026-11-24 10:00", True),
    ("2026-11-24 10:00", "2026-11-24 10:00", True),
    ("2026-11-24 10:01", "2026-11-24 10:00", False),
    ("2026-11-25 09:00", "2026-11-24 10:00", False),
]
# fmt: on


@pytest.mark.parametrize(("end", "now", "over"), ENDED)
def test_shift_has_ended(end: str, now: str, over: bool) -> None:
    assert shift_has_ended(pacific(end), pacific(now)) is over


# (now, the local day) -> who is on call that day from now on, with their handoffs
# fmt: off
DAYS = [
    # Tue 24 Nov 10:00: Biswa Kalyan Rath all day (his shift began Monday 09:00).
    ("2026-11-24 10:00", "2026-11-24", [(B, True, False, False)]),
    # Wed 25: the Thanksgiving period's first shift takes over at 09:00.
    ("2026-11-24 10:00", "2026-11-25", [(B, True, False, True), (D, False, True, False)]),
    # Mon 23 at 08:00: last week's shift (Aruna Sharma) until 09:00, then Biswa Kalyan Rath.
    ("2026-11-23 08:00", "2026-11-23", [(A, True, False, True), (B, False, True, False)]),
    # Mon 23 at 10:00: the shift that ended at 09:00 is no longer shown.
    ("2026-11-23 10:00", "2026-11-23", [(B, True, True, False)]),
]
# fmt: on


@pytest.mark.parametrize(("now", "day", "pieces"), DAYS)
def test_who_is_on_call_each_day(
    rules: Rules, now: str, day: str, pieces: list[tuple[str, bool, bool, bool]]
) -> None:
    moment = pacific(now)
    shown = date.fromisoformat(day)
    shifts = shifts_between(moment, moment + timedelta(days=4), rules)
    (found,) = calendar_days(shifts, shown, shown, rules.team, moment)
    assert [
        (p.shift.engineer, p.current, p.starts_mid_day, p.ends_mid_day) for p in found.pieces
    ] == pieces
    assert found.today is (shown == moment.date())


def test_the_shifts_ahead_start_with_the_current_one(rules: Rules) -> None:
    now = pacific("2026-11-24 10:00")
    shifts = shifts_between(pacific("2026-11-16 00:00"), pacific("2026-12-01 00:00"), rules)
    ahead = shifts_ahead(shifts, now)
    assert ahead[0].engineer == B and ahead[0].covers(now)
    assert shifts[0] not in ahead and all(s.end > now for s in ahead)


def test_holidays_and_weeks(rules: Rules) -> None:
    now = pacific("2026-11-24 10:00")
    shifts = shifts_between(now, pacific("2026-12-08 00:00"), rules)
    days = calendar_days(shifts, date(2026, 11, 24), date(2026, 12, 7), rules.team, now)
    named = {d.day.isoformat(): d.holiday for d in days if d.holiday}
    assert named == {"2026-11-26": "Thanksgiving Day", "2026-11-27": "Day after Thanksgiving"}
    weeks = calendar_weeks(days)
    assert [len(week) for week in weeks] == [7, 7, 7]
    assert weeks[0][0] is None and weeks[0][1] is not None and weeks[0][1].today  # Tue
    assert weeks[2][0] is not None and weeks[2][0].day == date(2026, 12, 7)
    assert weeks[2][1:] == [None] * 6
