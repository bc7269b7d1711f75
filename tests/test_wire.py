"""The fast path (router.core.wire) held to the schema of record: for every body, it
either yields exactly the events EventIn and check_events make of it, or steps aside.
Pure: no Redis, no HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st

from router.api.body import MAX_DEPTH
from router.api.events import MAX_BATCH, Refused, read_checked
from router.config.load import load_rules
from router.core.events import Limits
from router.core.wire import read_events
from tests.support import RULES_DIR

RULES = load_rules(RULES_DIR)
NOW = datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
LIMITS = Limits(details_bytes=16 * 1024, body_depth=MAX_DEPTH, link_hosts=())
BASE: dict[str, Any] = {"pipeline": "growth.aggregate", "type": "slow_query"}
LOG = "https://airflow.example.com/dags/growth_aggregate/grid?dag_run_id=x&tab=logs"


def _slow(body: bytes, limits: Limits) -> list[bytes] | None:
    """What the schema of record accepts, as queue bytes; None if it refuses."""
    try:
        parsed = orjson.loads(body)
        checked = read_checked(parsed, len(body), RULES, NOW, limits)
    except (orjson.JSONDecodeError, HTTPException):
        return None
    return None if isinstance(checked, Refused) else [msgspec.json.encode(e) for e in checked]


def _fast(body: bytes, limits: Limits) -> list[bytes] | None:
    events = read_events(body, RULES, NOW, limits, MAX_BATCH)
    return None if events is None else [msgspec.json.encode(e) for e in events]


def _body(value: object) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode()


def _deep(levels: int) -> object:
    value: object = 1
    for _ in range(levels):
        value = {"d": value}
    return value


# (name, body, fast): `fast` says whether the fast path takes it, so that a fast path
# that stepped aside for everything fails here, as one that accepted too much does.
CASES: list[tuple[str, object, bool]] = [
    ("bare", BASE, True),
    ("a batch", [BASE, {**BASE, "type": "job_failed"}], True),
    (
        "realistic",
        {
            **BASE,
            "dedup_key": "growth_aggregate/load/run-1",
            "summary": "growth_aggregate.load failed on try 1 of 3",
            "severity": "P2",
            "links": [{"href": LOG, "text": "Task log"}],
            "occurred_at": "2026-11-24T18:29:59.123Z",
            "source": "airflow",
            "details": {"try_number": 1, "duration_s": 2460.4, "tags": ["a", {"b": None}]},
        },
        True,
    ),
    ("every action", [{**BASE, "action": a} for a in ("trigger", "acknowledge", "resolve")], True),
    ("a naive time is the team's", {**BASE, "occurred_at": "2026-11-24T10:00:00"}, True),
    ("a naive time in a DST gap", {**BASE, "occurred_at": "2027-03-14T02:30:00"}, True),
    ("a naive time in a DST overlap", {**BASE, "occurred_at": "2026-11-01T01:30:00"}, True),
    ("an offset", {**BASE, "occurred_at": "2026-11-24T10:00:00.5+05:30"}, True),
    ("six decimals", {**BASE, "occurred_at": "2026-11-24T10:00:00.123456-08:00"}, True),
    ("nulls where allowed", {**BASE, "severity": None, "dedup_key": None, "source": None}, True),
    ("unicode", {**BASE, "summary": "données en retard ✓ 😀" * 10}, True),
    ("a summary at its cap", {**BASE, "summary": "😀" * 1024}, True),
    (
        "duplicate keys: the last wins",
        b'{"pipeline":"x","pipeline":"growth.aggregate","type":"t"}',
        True,
    ),
    ("a big integer in details", {**BASE, "details": {"n": 2**64 - 1, "m": -(2**63)}}, True),
    ("an integer past 64 bits", {**BASE, "details": {"n": 2**64}}, False),
    ("a deep integer past 64 bits", {**BASE, "details": {"n": [[-(2**63) - 1]]}}, False),
    ("details at the depth cap", {**BASE, "details": _deep(MAX_DEPTH - 2)}, True),
    ("details past the depth cap", {**BASE, "details": _deep(MAX_DEPTH)}, False),
    ("batched details at the depth cap", [{**BASE, "details": _deep(MAX_DEPTH - 2)}], True),
    ("batched details past it", [{**BASE, "details": _deep(MAX_DEPTH - 1)}], False),
    ("details over the byte cap", {**BASE, "details": {"s": "x" * 17000}}, False),
    ("details under it, in a big body", [{**BASE, "details": {"s": "x" * 4000}}] * 5, True),
    ("floats with exponents", {**BASE, "details": {"f": [1e15, 2.5e-300, -0.0]}}, True),
    # what EventIn strips, or refuses
    ("padded pipeline", {**BASE, "pipeline": " growth.aggregate "}, False),
    ("padded summary", {**BASE, "summary": "late\n"}, False),
    ("a padded details key", {**BASE, "details": {" k": 1}}, False),
    ("a file separator", {**BASE, "summary": "\x1clate"}, False),
    ("a padded link text is kept", {**BASE, "links": [{"href": LOG, "text": " log "}]}, True),
    ("unknown pipeline", {**BASE, "pipeline": "nope"}, False),
    ("unknown field", {**BASE, "colour": "red"}, False),
    ("unknown link field", {**BASE, "links": [{"href": LOG, "rel": "x"}]}, False),
    ("empty type", {**BASE, "type": ""}, False),
    ("long type", {**BASE, "type": "t" * 101}, False),
    ("bad severity", {**BASE, "severity": "P5"}, False),
    ("bad action", {**BASE, "action": "snooze"}, False),
    ("null summary", {**BASE, "summary": None}, False),
    ("null details", {**BASE, "details": None}, False),
    ("details a list", {**BASE, "details": [1]}, False),
    ("a number for a time", {**BASE, "occurred_at": 0}, False),
    ("digits for a time", {**BASE, "occurred_at": "1700000000"}, False),
    ("a date for a time", {**BASE, "occurred_at": "2026-11-24"}, False),
    ("a space for the T", {**BASE, "occurred_at": "2026-11-24 10:00:00Z"}, False),
    ("a compact offset", {**BASE, "occurred_at": "2026-11-24T10:00:00+0530"}, False),
    ("seven decimals", {**BASE, "occurred_at": "2026-11-24T10:00:00.1234567Z"}, False),
    ("a leap second", {**BASE, "occurred_at": "2026-12-31T23:59:60Z"}, False),
    ("Arabic-Indic digits", {**BASE, "occurred_at": "٢٠٢٦-11-24T10:00:00Z"}, False),
    ("before 1970", {**BASE, "occurred_at": "1969-12-31T23:59:59Z"}, False),
    ("2200", {**BASE, "occurred_at": "2200-01-01T00:00:00Z"}, False),
    ("ftp link", {**BASE, "links": [{"href": "ftp://example.com/x"}]}, False),
    ("upper-case scheme", {**BASE, "links": [{"href": "HTTPS://example.com/x"}]}, False),
    ("link with a space", {**BASE, "links": [{"href": "https://example.com/a b"}]}, False),
    ("link with userinfo", {**BASE, "links": [{"href": "https://u@example.com/"}]}, False),
    ("link without a host", {**BASE, "links": [{"href": "https:///x"}]}, False),
    ("empty batch", [], False),
    ("too many", [BASE] * (MAX_BATCH + 1), False),
    ("a string", "event", False),
    ("a nested batch", [[BASE]], False),
    ("NaN", b'{"pipeline":"growth.aggregate","type":"t","details":{"x":NaN}}', False),
    ("1e400", b'{"pipeline":"growth.aggregate","type":"t","details":{"x":1e400}}', False),
    ("a lone surrogate", b'{"pipeline":"growth.aggregate","type":"\\ud800"}', False),
    ("not UTF-8", b'{"pipeline":"growth.aggregate","type":"\xff"}', False),
    ("truncated", b'{"pipeline":"growth.aggregate"', False),
]


@pytest.mark.parametrize(("body", "fast"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_fast_path_yields_what_the_schema_of_record_does_or_steps_aside(
    body: object, fast: bool
) -> None:
    raw = _body(body)
    found = _fast(raw, LIMITS)
    assert (found is not None) == fast
    if found is not None:
        assert found == _slow(raw, LIMITS)


@pytest.mark.parametrize(
    ("hosts", "fast"), [(("airflow.example.com",), True), (("ci.example.com",), False)]
)
def test_link_hosts_allowed_take_the_fast_path_and_others_step_aside(
    hosts: tuple[str, ...], fast: bool
) -> None:
    limits = Limits(LIMITS.details_bytes, LIMITS.body_depth, hosts)
    raw = _body({**BASE, "links": [{"href": "https://AIRFLOW.example.com/x"}]})
    found = _fast(raw, limits)
    assert (found is not None) == fast
    assert found is None or found == _slow(raw, limits)


def test_a_missing_time_is_now_and_a_missing_dedup_key_is_pipeline_and_type() -> None:
    (event,) = read_events(_body(BASE), RULES, NOW, LIMITS, MAX_BATCH) or []
    assert event.occurred_at == NOW and event.dedup_key == "growth.aggregate/slow_query"


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["growth.aggregate", " growth.aggregate", "\u00a0x", "x\u2028", "\x1c", ""]
)
_INSTANTS = (
    st.none()
    | st.sampled_from(
        ["2026-11-24T10:00:00Z", "2026-11-24T10:00:00", "2026-11-24T10:00:00.1+01:00"]
    )
    | st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat)
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)
_EVENTS = st.fixed_dictionaries(
    {"pipeline": st.sampled_from(["growth.aggregate", "profit.unit", " profit.unit"]),
     "type": _TEXT},
    optional={
        "summary": _TEXT, "severity": st.sampled_from([None, "P1", "P4", "p1"]),
        "action": st.sampled_from(["trigger", "resolve", "Resolve"]), "dedup_key": _TEXT,
        "occurred_at": _INSTANTS, "source": st.none() | _TEXT,
        "details": st.dictionaries(_TEXT, _JSON, max_size=4),
        "links": st.lists(st.fixed_dictionaries(
            {"href": st.sampled_from([LOG, "http://h:8080", "https://h/ x", "https://[::1]/"])},
            optional={"text": _TEXT}), max_size=2),
    },
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(_EVENTS, min_size=1, max_size=3) | _EVENTS)
def test_any_body_the_fast_path_takes_the_schema_of_record_reads_the_same(body: Any) -> None:
    raw = json.dumps(body).encode()  # integers of any size, and Infinity: refused by both
    found = _fast(raw, LIMITS)
    if found is not None:
        assert found == _slow(raw, LIMITS)
