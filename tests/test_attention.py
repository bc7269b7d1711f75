"""What needs attention, pure (router.core.incidents): the console's order, who an
incident pages next and when, and whether it is paging a given person. Fixed clocks
(Pacific wall time), no Redis."""

from __future__ import annotations

import pytest

from router.core.events import parse_event
from router.core.incidents import (
    Incident,
    Status,
    act_on,
    apply_event,
    attention_order,
    next_page,
    pages_person,
)
from router.core.rules import Rules
from router.core.times import iso_z
from tests.support import pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"
OPENED = "2026-11-24 10:00"
"""A Tuesday in business hours: a slow query on growth.aggregate pages its owners Biswa
Kalyan Rath, then Disha Kapoor, then Kshama Kumar and Aruna Sharma (the team), 15
minutes apart, twice over."""


def _opened(rules: Rules, at: str = OPENED, event_type: str = "slow_query") -> Incident:
    moment = pacific(at)
    event = parse_event({"pipeline": "growth.aggregate", "type": event_type}, rules, moment)
    outcome = apply_event({}, event, rules, moment, new_id="i1")
    assert outcome.opened is not None
    return outcome.opened


# now -> (names paged next, when (UTC)) or None
# fmt: off
NEXT = [
    ("2026-11-24 10:00", ([D], "2026-11-24T18:15:00Z")),
    ("2026-11-24 10:14", ([D], "2026-11-24T18:15:00Z")),
    ("2026-11-24 10:15", ([K, A], "2026-11-24T18:30:00Z")),
    ("2026-11-24 10:30", ([B], "2026-11-24T18:45:00Z")),   # the second round, next
    ("2026-11-24 11:00", ([K, A], "2026-11-24T19:15:00Z")),
    ("2026-11-24 11:15", None),                            # its last step has fired
]
# fmt: on


@pytest.mark.parametrize(("now", "expected"), NEXT)
def test_who_is_paged_next(rules: Rules, now: str, expected: tuple[list[str], str] | None) -> None:
    found = next_page(_opened(rules), rules, pacific(now))
    assert (None if found is None else (found.names, iso_z(found.at))) == expected


def test_nobody_is_paged_next_once_acknowledged_and_a_deferred_page_waits(rules: Rules) -> None:
    incident = _opened(rules)
    outcome = act_on(incident, "acknowledge", K, rules, pacific("2026-11-24 10:05"))
    assert outcome is not None
    assert next_page(outcome.changed[0], rules, pacific("2026-11-24 10:05")) is None
    night = _opened(rules, "2026-11-24 22:00")  # deferred to Wed 09:00: its first step
    found = next_page(night, rules, pacific("2026-11-24 22:00"))
    assert found is not None and (found.names, iso_z(found.at)) == ([B], "2026-11-25T17:00:00Z")


# (now, person) -> the incident is paging them: reached in this round, or next
# fmt: off
PAGING = [
    ("2026-11-24 10:00", B, True),    # paged at 10:00, not acknowledged
    ("2026-11-24 10:00", D, True),    # paged next, at 10:15
    ("2026-11-24 10:00", K, False),   # not before 10:30
    ("2026-11-24 10:15", K, True),
    ("2026-11-24 10:30", K, True),    # paged at 10:30
    ("2026-11-24 10:45", K, False),   # a new round: only Biswa Kalyan Rath so far
    ("2026-11-24 11:20", A, True),    # the last step reached everyone
]
# fmt: on


@pytest.mark.parametrize(("now", "person", "paging"), PAGING)
def test_pages_person(rules: Rules, now: str, person: str, paging: bool) -> None:
    assert pages_person(_opened(rules), person, rules, pacific(now)) is paging


def _listed(rules: Rules, status: Status, severity: str, opened: str, name: str) -> Incident:
    return _opened(rules).model_copy(
        update={"id": name, "status": status, "severity": severity, "opened_at": pacific(opened)}
    )


# (id, status, severity, opened): listed in this order
# fmt: off
ORDER: list[tuple[str, Status, str, str]] = [
    ("p1-old", "triggered", "P1", "2026-11-24 08:00"),
    ("p1-new", "triggered", "P1", "2026-11-24 09:00"),
    ("p2", "triggered", "P2", "2026-11-23 08:00"),
    ("p3", "triggered", "P3", "2026-11-20 08:00"),
    ("p4", "triggered", "P4", "2026-11-24 09:59"),
    ("acked-p1", "acknowledged", "P1", "2026-11-24 09:30"),
    ("acked-p3", "acknowledged", "P3", "2026-11-24 07:00"),
    ("resolved-p1", "resolved", "P1", "2026-11-24 09:45"),
]
# fmt: on


def test_attention_order(rules: Rules) -> None:
    incidents = [_listed(rules, status, sev, at, name) for name, status, sev, at in ORDER]
    shuffled = sorted(incidents, key=lambda i: i.opened_at, reverse=True)
    assert [i.id for i in sorted(shuffled, key=attention_order)] == [row[0] for row in ORDER]
