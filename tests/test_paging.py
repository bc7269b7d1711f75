"""Which channel a page uses, and when (router.core.paging): pure, with fixed instants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from router.core.incidents import Incident
from router.core.paging import pushes, urgency
from router.core.rules import Rules
from tests.support import edited_rules, pacific

K, B = "Kshama Kumar", "Biswa Kalyan Rath"
AT = pacific("2026-12-01 11:00")


def _incident(severity: str, category: str | None) -> Incident:
    return Incident(
        id="inc",
        dedup_key="d",
        pipeline="growth.aggregate",
        type="job_failed",
        summary="",
        severity=severity,
        category=category,
        status="triggered",
        opened_at=AT,
        decision="page",
        deliver_at=AT,
    )


@pytest.mark.parametrize(
    ("severity", "category", "expected"),
    [
        ("P1", None, "high"),
        ("P1", "report", "high"),
        ("P2", "daily_data", "high"),  # daily data pages at night: it wakes people
        ("P2", None, "low"),
        ("P2", "report", "low"),
        ("P3", "data_quality", "low"),
    ],
)
def test_urgency_is_what_pages_at_night(
    rules: Rules, severity: str, category: str | None, expected: str
) -> None:
    assert urgency(_incident(severity, category), rules) == expected


def _with_methods(tmp_path: Path, own_rules: dict[str, Any] | None = None) -> Rules:
    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            if person["name"] == K:
                person["contact_methods"] = ["ntfys://ntfy.sh/kshama", "json://127.0.0.1/k"]
                if own_rules is not None:
                    person["notification_rules"] = own_rules

    return edited_rules(tmp_path, team=edit)


def _when(found: list[Any]) -> list[tuple[str, int, int, float]]:
    return [(p.person, p.rule, p.method, (p.due - AT).total_seconds()) for p in found]


@pytest.mark.parametrize(
    ("severity", "category", "own_rules", "expected"),
    [
        # the shipped team default: high at once, low after 5 minutes; every method
        ("P1", None, None, [(K, 0, 0, 0), (K, 0, 1, 0)]),
        ("P2", "daily_data", None, [(K, 0, 0, 0), (K, 0, 1, 0)]),
        ("P2", None, None, [(K, 0, 0, 300), (K, 0, 1, 300)]),
        # a person's own rules: again after 2 minutes; never for low urgency
        (
            "P1",
            None,
            {"high": ["0m", "2m"], "low": []},
            [
                (K, 0, 0, 0),
                (K, 0, 1, 0),
                (K, 1, 0, 120),
                (K, 1, 1, 120),
            ],
        ),
        ("P3", None, {"high": ["0m"], "low": []}, []),
    ],
)
def test_pushes_follow_the_persons_rules_after_the_steps_email(
    tmp_path: Path,
    severity: str,
    category: str | None,
    own_rules: dict[str, Any] | None,
    expected: list[tuple[str, int, int, float]],
) -> None:
    rules = _with_methods(tmp_path, own_rules)
    found = pushes(_incident(severity, category), [K, B], AT, rules)
    assert _when(found) == expected


def test_people_without_contact_methods_get_email_only(rules: Rules) -> None:
    # the shipped rules list none: today's behaviour exactly
    assert pushes(_incident("P1", None), [K, B], AT, rules) == []


def test_a_later_step_counts_from_its_own_email(tmp_path: Path) -> None:
    rules = _with_methods(tmp_path)
    step_due = AT + timedelta(minutes=15)
    found = pushes(_incident("P2", None), [K], step_due, rules)
    assert {p.due for p in found} == {AT + timedelta(minutes=20)}
