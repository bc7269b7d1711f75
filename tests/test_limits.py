"""The caps on what an event may carry (docs/limits.md): pure checks, no Redis."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from router.core.events import EventIn, oversized, too_large

LIMIT = 16 * 1024
BASE = {"pipeline": "growth.aggregate", "type": "slow_query"}


def _details(size: int) -> dict[str, Any]:
    """A `details` whose compact JSON is exactly `size` bytes."""
    return {"s": "x" * (size - len('{"s":""}'))}


def _links(count: int) -> list[dict[str, str]]:
    return [{"href": f"https://ci.example.com/runs/{n:04d}", "text": "run"} for n in range(count)]


@pytest.mark.parametrize(
    ("extra", "found"),
    [
        ({}, []),
        ({"details": {}}, []),
        ({"details": _details(LIMIT)}, []),  # at the cap: accepted
        ({"details": _details(LIMIT + 1)}, [("details", LIMIT + 1)]),
        ({"details": _details(480 * 1024)}, [("details", 480 * 1024)]),
        # measured as compact JSON: UTF-8 bytes, not characters
        ({"details": {"s": "é" * (LIMIT // 2)}}, [("details", LIMIT + 8)]),
        ({"details": {"n": [1.5] * 4000}}, []),  # 16,007 bytes
        ({"details": {"n": [1.5] * 4200}}, [("details", len(orjson.dumps({"n": [1.5] * 4200})))]),
        ({"links": _links(10)}, []),
        ({"links": _links(400)}, [("links", len(orjson.dumps(_links(400))))]),
        (
            {"details": _details(LIMIT + 1), "links": _links(400)},
            [("details", LIMIT + 1), ("links", len(orjson.dumps(_links(400))))],
        ),
    ],
    ids=[
        "nothing",
        "empty",
        "at-cap",
        "one-over",
        "480KB",
        "utf8-bytes",
        "numbers-under",
        "numbers-over",
        "few-links",
        "many-links",
        "both",
    ],
)
def test_free_form_fields_over_the_cap(extra: dict[str, Any], found: list[tuple[str, int]]) -> None:
    assert oversized(EventIn.model_validate({**BASE, **extra}), LIMIT) == found


def test_the_error_names_the_field_the_size_and_the_setting() -> None:
    assert too_large("details", 491_520, LIMIT) == (
        "details: 491,520 bytes, over the 16,384-byte limit (ROUTER_MAX_DETAILS_BYTES)"
    )


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        ("2026-11-24T10:00:00Z", True),
        ("2026-11-24T10:00:00", True),  # naive: the pipeline's zone
        ("2026-11-24 10:00", True),
        ("2026-11-24", True),
        (0, False),  # Unix time, as pydantic would read it: not what the schema says
        (1_700_000_000.5, False),
        ("1700000000", False),
        ("0", False),
        (True, False),
    ],
)
def test_occurred_at_is_iso_text_only(occurred_at: object, accepted: bool) -> None:
    data = {**BASE, "occurred_at": occurred_at}
    if accepted:
        assert EventIn.model_validate(data).occurred_at is not None
    else:
        with pytest.raises(ValidationError, match="must be ISO 8601 text, like 2026-11-24T"):
            EventIn.model_validate(data)


@pytest.mark.parametrize(("day", "accepted"), [("2026-11-24", True), (0, False), ("0", False)])
def test_days_are_iso_text_only(day: object, accepted: bool) -> None:
    from pydantic import TypeAdapter

    from router.core.events import Day

    if accepted:
        assert TypeAdapter(Day).validate_python(day).isoformat() == day
    else:
        with pytest.raises(ValidationError, match="ISO 8601"):
            TypeAdapter(Day).validate_python(day)
