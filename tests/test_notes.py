"""Estimates: a duration from now, or an instant (naive: team time)."""

from __future__ import annotations

import pytest

from router.core.notes import estimate_at
from tests.support import PACIFIC, pacific, utc

NOW = pacific("2026-11-24 10:00")

# fmt: off
CASES = [
    ("2d", utc("2026-11-26T18:00:00Z")),
    ("4h", utc("2026-11-24T22:00:00Z")),
    ("30m", utc("2026-11-24T18:30:00Z")),
    ("2026-12-01T17:00", utc("2026-12-02T01:00:00Z")),           # team time
    ("2026-12-01T17:00:00Z", utc("2026-12-01T17:00:00Z")),
    ("2027-03-14T02:30", utc("2027-03-14T10:30:00Z")),           # the spring gap
]
# fmt: on


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_estimate_at(text: str, expected: object) -> None:
    assert estimate_at(text, NOW, PACIFIC) == expected


@pytest.mark.parametrize("text", ["soon", "2 days", "", "-1d"])
def test_bad_estimates_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="neither a duration like '2d'"):
        estimate_at(text, NOW, PACIFIC)
