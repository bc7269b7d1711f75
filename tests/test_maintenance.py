"""Maintenance windows, the pure part (router.core.maintenance): table tests without
Redis, with fixed clocks, over both 2027 DST changes in Pacific time (the clocks spring
forward on Sunday 14 March at 02:00 and fall back on Sunday 7 November at 02:00)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from router.config.load import load_rules
from router.core.maintenance import (
    Span,
    Weekly,
    Window,
    WindowInvalid,
    ended,
    muting,
    one_off,
    started,
)
from tests.support import RULES_DIR, copy_rules

PACIFIC = ZoneInfo("America/Los_Angeles")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "weekly"),
    [
        ("Sat 02:00-06:00", Weekly(5, time(2), time(6))),
        ("sun 1:30 - 5:00", Weekly(6, time(1, 30), time(5))),
        ("Fri 22:00-02:00", Weekly(4, time(22), time(2))),
        ("Mon 20:00-24:00", Weekly(0, time(20), time(0))),
    ],
)
def test_a_weekly_window_reads_as_written(text: str, weekly: Weekly) -> None:
    assert Weekly.parse(text) == weekly


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Saturday 02:00-06:00", "is not like 'Sat 02:00-06:00'"),
        ("Sam 02:00-06:00", "'Sam' is not one of Mon, Tue"),
        ("Sat 25:00-06:00", "'25:00' is not a time of day"),
        ("Sat 02:00-02:00", "starts and ends at the same time"),
        ("Sat 02:00", "is not like"),
    ],
)
def test_a_bad_weekly_window_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(WindowInvalid) as raised:
        Weekly.parse(text)
    assert said in str(raised.value)


@pytest.mark.parametrize(
    ("text", "day", "start", "end"),
    [
        # a week before and after each change: the same local hours, other UTC instants
        ("Sat 02:00-06:00", "2027-03-06", "2027-03-06 10:00", "2027-03-06 14:00"),
        ("Sat 02:00-06:00", "2027-03-20", "2027-03-20 09:00", "2027-03-20 13:00"),
        ("Sat 02:00-06:00", "2027-10-30", "2027-10-30 09:00", "2027-10-30 13:00"),
        ("Sat 02:00-06:00", "2027-11-13", "2027-11-13 10:00", "2027-11-13 14:00"),
        # across the spring change: 01:00 standard time to 05:00 daylight time (3 h)
        ("Sun 01:00-05:00", "2027-03-14", "2027-03-14 09:00", "2027-03-14 12:00"),
        # a start in the skipped hour: when the clocks change, 03:00 daylight time
        ("Sun 02:30-04:00", "2027-03-14", "2027-03-14 10:00", "2027-03-14 11:00"),
        # an end in the skipped hour: the same
        ("Sun 01:00-02:30", "2027-03-14", "2027-03-14 09:00", "2027-03-14 10:00"),
        # across the fall change: 01:00 daylight time to 05:00 standard time (5 h)
        ("Sun 01:00-05:00", "2027-11-07", "2027-11-07 08:00", "2027-11-07 13:00"),
        # an hour that comes twice: its first
        ("Sun 01:00-01:30", "2027-11-07", "2027-11-07 08:00", "2027-11-07 08:30"),
        # over midnight, into the day the clocks change
        ("Sat 23:00-03:00", "2027-03-13", "2027-03-14 07:00", "2027-03-14 10:00"),
    ],
)
def test_a_weekly_window_keeps_its_wall_clock_hours_across_dst(
    text: str, day: str, start: str, end: str
) -> None:
    weekly = Weekly.parse(text)
    span = weekly.on(datetime.fromisoformat(day).date(), PACIFIC)
    assert span == Span(utc(start), utc(end))


def test_the_occurrences_over_a_stretch_are_each_weeks() -> None:
    weekly = Weekly.parse("Sat 02:00-06:00")
    spans = weekly.spans(PACIFIC, utc("2027-03-01 00:00"), utc("2027-03-22 00:00"))
    assert [span.start for span in spans] == [
        utc("2027-03-06 10:00"),
        utc("2027-03-13 10:00"),
        utc("2027-03-20 09:00"),
    ]
    # one that started before the stretch and ends in it is in it
    inside = weekly.spans(PACIFIC, utc("2027-03-06 12:00"), utc("2027-03-06 12:01"))
    assert inside == [Span(utc("2027-03-06 10:00"), utc("2027-03-06 14:00"))]


WAREHOUSE = Window("rules-1", "warehouse maintenance", weekly=Weekly.parse("Sat 02:00-06:00"))
GROWTH = one_off(
    "m1",
    "backfill",
    utc("2027-01-09 10:00"),  # Saturday 02:00 Pacific
    utc("2027-01-09 14:00"),
    pipelines=["growth.aggregate"],
)
STRICT = one_off(
    "m2",
    "migration",
    utc("2027-01-09 10:00"),
    utc("2027-01-09 18:00"),
    pipelines=["growth.aggregate"],
    types=["job_failed"],
    page_p1=False,
)


@pytest.mark.parametrize(
    ("windows", "pipeline", "event_type", "severity", "now", "muted_by", "until"),
    [
        # a P2 inside the one-off window of its pipeline
        (
            [GROWTH],
            "growth.aggregate",
            "job_failed",
            "P2",
            "2027-01-09 11:00",
            "m1",
            "2027-01-09 14:00",
        ),
        # a P1 pages anyway
        ([GROWTH], "growth.aggregate", "job_failed", "P1", "2027-01-09 11:00", None, None),
        # another pipeline's
        ([GROWTH], "profit.unit", "job_failed", "P2", "2027-01-09 11:00", None, None),
        # before it and at its end: not muted (the end is not in it)
        ([GROWTH], "growth.aggregate", "job_failed", "P2", "2027-01-09 09:59", None, None),
        ([GROWTH], "growth.aggregate", "job_failed", "P2", "2027-01-09 14:00", None, None),
        # page_p1 false mutes a P1 too, but only of its types
        (
            [STRICT],
            "growth.aggregate",
            "job_failed",
            "P1",
            "2027-01-09 11:00",
            "m2",
            "2027-01-09 18:00",
        ),
        ([STRICT], "growth.aggregate", "data_late", "P2", "2027-01-09 11:00", None, None),
        # of two, the one that ends last: the event pages when both are over
        (
            [GROWTH, STRICT],
            "growth.aggregate",
            "job_failed",
            "P2",
            "2027-01-09 11:00",
            "m2",
            "2027-01-09 18:00",
        ),
        # a weekly window over all pipelines
        (
            [WAREHOUSE],
            "profit.unit",
            "job_failed",
            "P2",
            "2027-01-09 11:00",
            "rules-1",
            "2027-01-09 14:00",
        ),
        ([WAREHOUSE], "profit.unit", "job_failed", "P2", "2027-01-16 09:59", None, None),
    ],
)
def test_what_a_window_mutes(
    windows: list[Window],
    pipeline: str,
    event_type: str,
    severity: str,
    now: str,
    muted_by: str | None,
    until: str | None,
) -> None:
    found = muting(windows, pipeline, event_type, severity, utc(now), PACIFIC)
    if muted_by is None:
        assert found is None
    else:
        assert found is not None
        assert (found.window.id, found.until) == (muted_by, utc(str(until)))


def test_the_windows_that_ended_since_the_last_look_in_the_order_they_ended() -> None:
    windows = [WAREHOUSE, GROWTH, STRICT]
    assert ended(windows, utc("2027-01-09 13:00"), utc("2027-01-09 13:59"), PACIFIC) == []
    done = ended(windows, utc("2027-01-09 13:00"), utc("2027-01-09 14:00"), PACIFIC)
    assert [window.id for window, _ in done] == ["rules-1", "m1"]
    later = ended(windows, utc("2027-01-09 14:00"), utc("2027-01-10 00:00"), PACIFIC)
    assert [(window.id, span.end) for window, span in later] == [("m2", utc("2027-01-09 18:00"))]


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("2027-01-09 10:00", "2027-01-09 10:00", "end: 2027-01-09T10:00:00+00:00 is not after"),
        ("2027-01-09 10:00", "2027-01-09 09:00", "end: 2027-01-09T09:00:00+00:00 is not after"),
        ("2027-01-09 10:00", "2027-01-23 10:01", "end: a window lasts at most 14 days"),
    ],
)
def test_a_one_off_window_is_checked(start: str, end: str, said: str) -> None:
    with pytest.raises(WindowInvalid) as raised:
        one_off("m", "why", utc(start), utc(end))
    assert said in str(raised.value)
    fourteen_days = one_off("m", "why", utc(start), utc(start) + timedelta(days=14))
    assert fourteen_days.once is not None


def test_the_rules_weekly_windows_load_as_the_core_reads_them(tmp_path: Path) -> None:
    def windows(data: dict[str, Any]) -> None:
        data["maintenance"] = [
            {"weekly": "Sat 02:00-06:00", "reason": "warehouse maintenance"},
            {
                "pipelines": "growth.aggregate",
                "types": ["job_failed"],
                "weekly": "Sun 01:00-03:00",
                "reason": "backfill",
                "page_p1": False,
            },
        ]

    rules = load_rules(copy_rules(tmp_path, routing=windows))
    assert rules.routing.maintenance_windows == (
        Window("rules-1", "warehouse maintenance", weekly=Weekly(5, time(2), time(6))),
        Window(
            "rules-2",
            "backfill",
            frozenset({"growth.aggregate"}),
            frozenset({"job_failed"}),
            page_p1=False,
            weekly=Weekly(6, time(1), time(3)),
        ),
    )
    assert load_rules(RULES_DIR).routing.maintenance_windows == ()  # none shipped


def test_a_window_ended_before_it_started_never_starts_nor_ends() -> None:
    cancelled = Window(
        "m9", "called off", once=Span(utc("2027-01-09 10:00"), utc("2027-01-09 10:00"))
    )
    assert ended([cancelled], utc("2027-01-09 09:00"), utc("2027-01-09 11:00"), PACIFIC) == []
    assert started([cancelled], utc("2027-01-09 09:00"), utc("2027-01-09 11:00"), PACIFIC) == []
    assert muting([cancelled], "profit.unit", "x", "P2", utc("2027-01-09 10:00"), PACIFIC) is None


@pytest.mark.parametrize(
    ("since", "until", "started_ids"),
    [
        ("2027-01-09 09:00", "2027-01-09 09:59", []),  # Sat 02:00 PST is 10:00Z
        ("2027-01-09 09:00", "2027-01-09 10:00", ["rules-1"]),
        ("2027-01-09 10:00", "2027-01-09 11:00", []),  # started at `since`: said before
        ("2027-01-09 09:00", "2027-01-09 14:00", []),  # and ended by `until`: no line
    ],
)
def test_the_windows_that_started_since_the_last_look(
    since: str, until: str, started_ids: list[str]
) -> None:
    found = started([WAREHOUSE], utc(since), utc(until), PACIFIC)
    assert [window.id for window, _ in found] == started_ids
