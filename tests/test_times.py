from __future__ import annotations

from datetime import date, datetime, time

import pytest

from router.core.durations import format_duration, parse_duration_s
from router.core.times import iso_z, parse_instant, wall_clock
from tests.support import PACIFIC, utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # With an offset or Z: converted to UTC whatever the naive zone.
        ("2026-11-26T03:00:00Z", "2026-11-26T03:00:00Z"),
        ("2026-11-26T03:00:00+05:30", "2026-11-25T21:30:00Z"),
        ("2026-11-26T03:00:00-08:00", "2026-11-26T11:00:00Z"),
        # Naive: Pacific wall-clock time, PST in winter and PDT in summer.
        ("2026-11-26T03:00:00", "2026-11-26T11:00:00Z"),
        ("2026-07-01T19:00", "2026-07-02T02:00:00Z"),
        # 01:30 on 2026-11-01 happens twice; the first (PDT) is taken.
        ("2026-11-01T01:30", "2026-11-01T08:30:00Z"),
        # 02:30 on 2027-03-14 never shows on a clock; read with the PST offset.
        ("2027-03-14T02:30", "2027-03-14T10:30:00Z"),
        ("2026-11-26", "2026-11-26T08:00:00Z"),
    ],
)
def test_parse_instant(text: str, expected: str) -> None:
    assert iso_z(parse_instant(text, PACIFIC)) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("next tuesday", "Invalid isoformat"),
        # found by the fuzzer: in UTC these fall before year 1 or after 9999
        ("0001-01-01T00:00:00+00:01", "out of range"),
        ("9999-12-31T20:00:00", "out of range"),  # naive: Pacific, so 10000-01-01 in UTC
        ("9999-12-31T23:59:00-00:01", "out of range"),
    ],
)
def test_parse_instant_rejects_garbage_and_the_out_of_range(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_instant(text, PACIFIC)


@pytest.mark.parametrize(
    ("day", "at", "expected"),
    [
        (date(2026, 10, 31), time(19), "2026-11-01T02:00:00Z"),  # PDT
        (date(2026, 11, 1), time(19), "2026-11-02T03:00:00Z"),  # PST from 02:00 that day
        (date(2027, 3, 13), time(19), "2027-03-14T03:00:00Z"),  # PST
        (date(2027, 3, 14), time(19), "2027-03-15T02:00:00Z"),  # PDT from 02:00 that day
    ],
)
def test_wall_clock_follows_dst(day: date, at: time, expected: str) -> None:
    assert iso_z(wall_clock(day, at, PACIFIC)) == expected


def test_iso_z_refuses_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        iso_z(datetime(2026, 11, 26, 3, 0))  # noqa: DTZ001 - the point of the test


def test_iso_z_drops_microseconds() -> None:
    assert iso_z(utc("2026-11-26T03:00:00.999Z")) == "2026-11-26T03:00:00Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), (" 5 m ", 300), ("0s", 0)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds
    assert parse_duration_s(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["15", 15, "15 minutes", "1.5h", "-5m", "", None, "m"])
def test_parse_duration_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration_s(bad)
