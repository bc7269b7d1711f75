"""A step's later pushes, decided (router.delivery.firing.push): pure. The timer is due again
for the next push, if any; the pushes due now go once each."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from router.delivery.firing import push
from router.delivery.firing.due import DueStep, due_step
from router.delivery.firing.plan import Done, Release, Reschedule
from router.state.timers import Timer
from tests.support import edited_rules
from tests.test_firing_step import AT, PLAN, B, incident, sent

TIMER = Timer(kind="push", incident="inc", round=0, step=0)


def _own_rules(tmp_path: Path, high: list[str], low: list[str]) -> Any:
    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            if person["name"] == B:
                person["contact_methods"] = ["json://127.0.0.1/b"]
                person["notification_rules"] = {"high": high, "low": low}

    return edited_rules(tmp_path, team=edit)


# (severity, the person's rules, seconds after AT) -> pushes now (their rule), then
# fmt: off
CASES: list[tuple[str, list[str], list[str], float, list[int], float | None]] = [
    ("P1", ["0m", "2m", "10m"], [], 0, [0], 120),       # the first at once, the timer for 2m
    ("P1", ["0m", "2m", "10m"], [], 120, [0, 1], 600),  # the first again: sent once (its key)
    ("P1", ["0m", "2m", "10m"], [], 600, [0, 1, 2], None),
    ("P1", ["0m", "2m"], [], 119, [0], 120),            # early: nothing new, due again at 2m
    ("P2", ["0m"], ["5m"], 0, [], 300),                 # low urgency: its own rule
    ("P3", ["0m"], [], 0, [], None),                    # never pushed
]
# fmt: on


@pytest.mark.parametrize(("severity", "high", "low", "after_s", "rules_sent", "next_s"), CASES)
def test_the_pushes_due_go_and_the_timer_waits_for_the_next(
    tmp_path: Path,
    severity: str,
    high: list[str],
    low: list[str],
    after_s: float,
    rules_sent: list[int],
    next_s: float | None,
) -> None:
    rules = _own_rules(tmp_path, high, low)
    found = incident(severity=severity)
    now = AT + timedelta(seconds=after_s)
    due = due_step(TIMER, found, now)
    assert isinstance(due, DueStep)
    plan = push.decide(due, found, rules, now)
    tone = "high" if severity == "P1" else "low"
    assert [sent(s) for s in plan.sends] == [
        ("push", B, "json://127.0.0.1/b", tone, f"inc:0:0:{B}:push{rule}:0") for rule in rules_sent
    ]
    assert plan.said == f"push to {B}"
    expected = (
        Release() if next_s is None else Reschedule((AT + timedelta(seconds=next_s)).timestamp())
    )
    assert plan.then == expected
    assert (plan.later, plan.counted, plan.chat) == (None, (), None)
    assert not any(s.counts for s in plan.sends)


def test_a_push_timer_for_a_step_no_longer_planned_is_stale() -> None:
    gone = Timer(kind="push", incident="inc", round=3, step=0)
    assert due_step(gone, incident(escalation=PLAN[:1]), AT) == Done(
        "stale", "step not in plan", Release()
    )
