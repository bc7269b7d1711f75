from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from router.core.rotation import Shift, shift_at, shifts_between
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import edited_rules, pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"

# (Pacific wall-clock instant, on call, shift start, shift end (UTC), holiday period)
# fmt: off
SHIPPED = [
    # Regular weekly shifts hand off on Mondays at 09:00 Pacific.
    ("2026-11-24 10:00", B, "2026-11-23T17:00:00Z", "2026-11-25T17:00:00Z", None),
    # Thanksgiving period: 2-day shifts, next in order after the previous engineer...
    ("2026-11-26 03:00", D, "2026-11-25T17:00:00Z", "2026-11-27T17:00:00Z", "Thanksgiving"),
    ("2026-11-29 08:59", K, "2026-11-27T17:00:00Z", "2026-11-29T17:00:00Z", "Thanksgiving"),
    # ...skipping Aruna Sharma, away 2026-11-28..30, for the whole shift.
    ("2026-11-29 09:00", B, "2026-11-29T17:00:00Z", "2026-12-01T17:00:00Z", "Thanksgiving"),
    # The weekly rotation resumes where the calendar says, after the period.
    ("2026-12-01 09:00", D, "2026-12-01T17:00:00Z", "2026-12-07T17:00:00Z", None),
    # Winter holidays: Disha Kapoor is away 2026-12-24..27, Kshama Kumar takes that shift.
    ("2026-12-21 09:00", B, "2026-12-21T17:00:00Z", "2026-12-23T17:00:00Z", "Winter holidays"),
    ("2026-12-24 12:00", K, "2026-12-23T17:00:00Z", "2026-12-25T17:00:00Z", "Winter holidays"),
    ("2026-12-25 09:00", A, "2026-12-25T17:00:00Z", "2026-12-27T17:00:00Z", "Winter holidays"),
    # The period's last shift is cut short at its end (the handoff after 2027-01-04).
    ("2027-01-04 12:00", B, "2027-01-04T17:00:00Z", "2027-01-05T17:00:00Z", "Winter holidays"),
    ("2027-01-05 09:00", K, "2027-01-05T17:00:00Z", "2027-01-11T17:00:00Z", None),
    # Autumn DST (2026-11-01): handoffs stay at 09:00 local, so this shift is 169 hours.
    ("2026-10-28 12:00", B, "2026-10-26T16:00:00Z", "2026-11-02T17:00:00Z", None),
    ("2026-11-02 08:59", B, "2026-10-26T16:00:00Z", "2026-11-02T17:00:00Z", None),
    ("2026-11-02 09:00", D, "2026-11-02T17:00:00Z", "2026-11-09T17:00:00Z", None),
    # Spring DST (2027-03-14): this shift is 167 hours.
    ("2027-03-14 03:00", A, "2027-03-08T17:00:00Z", "2027-03-15T16:00:00Z", None),
    ("2027-03-15 08:59", A, "2027-03-08T17:00:00Z", "2027-03-15T16:00:00Z", None),
    ("2027-03-15 09:00", B, "2027-03-15T16:00:00Z", "2027-03-22T16:00:00Z", None),
    # Before the rotation's start the order runs backwards.
    ("2026-01-04 12:00", D, "2025-12-29T17:00:00Z", "2026-01-05T17:00:00Z", None),
]
# fmt: on


@pytest.mark.parametrize(("local", "name", "start", "end", "period"), SHIPPED)
def test_shift_at(
    rules: Rules, local: str, name: str, start: str, end: str, period: str | None
) -> None:
    shift = shift_at(pacific(local), rules)
    assert (shift.engineer, iso_z(shift.start), iso_z(shift.end), shift.holiday_period) == (
        name,
        start,
        end,
        period,
    )


def test_dst_shifts_are_an_hour_longer_or_shorter(rules: Rules) -> None:
    autumn = shift_at(pacific("2026-10-28 12:00"), rules)
    spring = shift_at(pacific("2027-03-10 12:00"), rules)
    assert autumn.end - autumn.start == timedelta(hours=169)
    assert spring.end - spring.start == timedelta(hours=167)
    for shift in (autumn, spring):
        assert shift.start.astimezone(rules.team.zone).hour == 9
        assert shift.end.astimezone(rules.team.zone).hour == 9


def _table(shifts: list[Shift]) -> list[tuple[str, str, str]]:
    return [(s.engineer, iso_z(s.start), iso_z(s.end)) for s in shifts]


def test_thanksgiving_fortnight(rules: Rules) -> None:
    shifts = shifts_between(pacific("2026-11-20 00:00"), pacific("2026-12-03 00:00"), rules)
    assert _table(shifts) == [
        ("Aruna Sharma", "2026-11-16T17:00:00Z", "2026-11-23T17:00:00Z"),
        ("Biswa Kalyan Rath", "2026-11-23T17:00:00Z", "2026-11-25T17:00:00Z"),
        ("Disha Kapoor", "2026-11-25T17:00:00Z", "2026-11-27T17:00:00Z"),
        ("Kshama Kumar", "2026-11-27T17:00:00Z", "2026-11-29T17:00:00Z"),
        ("Biswa Kalyan Rath", "2026-11-29T17:00:00Z", "2026-12-01T17:00:00Z"),
        ("Disha Kapoor", "2026-12-01T17:00:00Z", "2026-12-07T17:00:00Z"),
    ]


def _add_override(data: dict[str, Any]) -> None:
    data["overrides"] = [
        {
            "engineer": "Aruna Sharma",
            "start": "2026-11-24T12:00",
            "end": "2026-11-24T20:00",
            "reason": "swap for a dentist appointment",
        },
        # Across the start of the Thanksgiving period, in UTC.
        {
            "engineer": "Kshama Kumar",
            "start": "2026-11-25T16:00:00Z",
            "end": "2026-11-25T18:00:00Z",
        },
    ]


def test_overrides_cut_into_shifts(tmp_path: Path) -> None:
    rules = edited_rules(tmp_path, oncall=_add_override)
    shifts = shifts_between(pacific("2026-11-24 00:00"), pacific("2026-11-26 00:00"), rules)
    assert _table(shifts) == [
        ("Biswa Kalyan Rath", "2026-11-23T17:00:00Z", "2026-11-24T20:00:00Z"),
        ("Aruna Sharma", "2026-11-24T20:00:00Z", "2026-11-25T04:00:00Z"),
        ("Biswa Kalyan Rath", "2026-11-25T04:00:00Z", "2026-11-25T16:00:00Z"),
        ("Kshama Kumar", "2026-11-25T16:00:00Z", "2026-11-25T18:00:00Z"),
        ("Disha Kapoor", "2026-11-25T18:00:00Z", "2026-11-27T17:00:00Z"),
    ]
    assert shifts[1].override == "swap for a dentist appointment"
    assert shifts[3].override == "override"
    assert shifts[3].holiday_period is None and shifts[4].holiday_period == "Thanksgiving"
    # Asked about a moment inside it, the override is shown whole, not cut at the range.
    (whole,) = shifts_between(pacific("2026-11-25 08:30"), pacific("2026-11-25 08:31"), rules)
    assert (iso_z(whole.start), iso_z(whole.end)) == (
        "2026-11-25T16:00:00Z",
        "2026-11-25T18:00:00Z",
    )
    assert shift_at(pacific("2026-11-24 13:00"), rules).engineer == "Aruna Sharma"
    assert shift_at(pacific("2026-11-24 20:00"), rules).engineer == "Biswa Kalyan Rath"


def test_override_wins_over_unavailability(tmp_path: Path) -> None:
    def away_but_overridden(data: dict[str, Any]) -> None:
        data["overrides"] = [
            {"engineer": "Aruna Sharma", "start": "2026-11-29T00:00", "end": "2026-11-29T12:00"}
        ]

    rules = edited_rules(tmp_path, oncall=away_but_overridden)
    assert shift_at(pacific("2026-11-29 06:00"), rules).engineer == "Aruna Sharma"


# (who is away, days away, first day shown, last day shown, the shifts: engineer, cover for,
# start, end in Pacific wall-clock time)
# fmt: off
COVERS = [
    # One day inside Kshama Kumar's week: a cover for that day only. Aruna Sharma holds the
    # next week, so Biswa Kalyan Rath, free and holding neither neighbouring week, covers.
    (K, "2026-12-09", "2026-12-09", "2026-12-07", "2026-12-13", [
        (K, None, "2026-12-07 09:00", "2026-12-09 00:00"),
        (B, K, "2026-12-09 00:00", "2026-12-10 00:00"),
        (K, None, "2026-12-10 00:00", "2026-12-14 09:00"),
    ]),
    # Aruna Sharma away on the Monday her week ends: the nine hours before the handoff are
    # covered; Biswa Kalyan Rath (next week's) does not get 14 days in a row.
    (A, "2027-04-12", "2027-04-12", "2027-04-05", "2027-04-12", [
        (A, None, "2027-04-05 09:00", "2027-04-12 00:00"),
        (D, A, "2027-04-12 00:00", "2027-04-12 09:00"),
        (B, None, "2027-04-12 09:00", "2027-04-19 09:00"),
    ]),
    # A whole week away: covered by the one engineer who holds neither neighbouring week.
    (A, "2027-04-05", "2027-04-12", "2027-04-05", "2027-04-12", [
        (D, A, "2027-04-05 09:00", "2027-04-12 09:00"),
        (B, None, "2027-04-12 09:00", "2027-04-19 09:00"),
    ]),
    # Two days across the spring DST change (Sunday 2027-03-14): the cover is 47 hours.
    (A, "2027-03-13", "2027-03-14", "2027-03-08", "2027-03-14", [
        (A, None, "2027-03-08 09:00", "2027-03-13 00:00"),
        (D, A, "2027-03-13 00:00", "2027-03-15 00:00"),
    ]),
]
# fmt: on


@pytest.mark.parametrize(("away", "first_away", "last_away", "first", "last", "expected"), COVERS)
def test_an_absence_is_covered_for_its_days_only(
    tmp_path: Path,
    away: str,
    first_away: str,
    last_away: str,
    first: str,
    last: str,
    expected: list[tuple[str, str | None, str, str]],
) -> None:
    def away_then(data: dict[str, Any]) -> None:
        person = next(p for p in data["engineers"] if p["name"] == away)
        person["unavailable"] = [{"start": first_away, "end": last_away}]

    rules = edited_rules(tmp_path, team=away_then)
    shifts = shifts_between(pacific(f"{first} 12:00"), pacific(f"{last} 23:00"), rules)
    assert [(s.engineer, s.cover_for, s.start, s.end) for s in shifts] == [
        (name, cover_for, pacific(start), pacific(end)) for name, cover_for, start, end in expected
    ]


def test_nobody_available_still_leaves_no_gap(tmp_path: Path) -> None:
    def everyone_away(data: dict[str, Any]) -> None:
        for person in data["engineers"]:
            person["unavailable"] = [{"start": "2026-12-01", "end": "2026-12-31"}]

    rules = edited_rules(tmp_path, team=everyone_away)
    shifts = shifts_between(pacific("2026-12-01 00:00"), pacific("2027-01-01 00:00"), rules)
    assert all(a.end == b.start for a, b in itertools.pairwise(shifts))
    # Without anyone free, holiday shifts keep the order: next after the previous one.
    holiday = [s.engineer for s in shifts if s.holiday_period]
    order = rules.oncall.rotation
    for before, after in itertools.pairwise(holiday):
        assert order.index(after) == (order.index(before) + 1) % len(order)


def test_range_must_be_forward(rules: Rules) -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        shifts_between(pacific("2026-12-02 00:00"), pacific("2026-12-01 00:00"), rules)
