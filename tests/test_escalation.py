from __future__ import annotations

from pathlib import Path
from typing import Any

from router.core.escalation import plan_escalation
from router.core.roster import Absence, Roster, with_roster
from router.core.rules import Rules
from router.core.rules.routing import EscalationPolicy
from tests.support import edited_rules, pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"


def _plan(
    rules: Rules, policy: dict[str, Any], pipeline: str, local: str
) -> list[tuple[int, list[str], int]]:
    steps = plan_escalation(
        EscalationPolicy.model_validate(policy), rules.pipeline(pipeline), pacific(local), rules
    )
    return [(step.after_s, step.notify, step.round) for step in steps]


def test_waits_add_up_and_the_policy_repeats(rules: Rules) -> None:
    policy = {
        "repeat": 2,
        "steps": [{"notify": "primary", "after": "5m"}, {"notify": "secondary", "after": "30s"}],
    }
    assert _plan(rules, policy, "profit.aggregate", "2026-11-24 10:00") == [
        (0, [K], 0),
        (300, [A], 0),
        (330, [K], 1),
        (630, [A], 1),
        (660, [K], 2),
        (960, [A], 2),
    ]


def test_targets_already_notified_in_the_round_are_skipped(rules: Rules) -> None:
    # Biswa Kalyan Rath is on call and the primary owner: paged once, then the rest of the team.
    policy = {
        "steps": [{"notify": ["primary", "oncall"]}, {"notify": "oncall"}, {"notify": "team"}]
    }
    assert _plan(rules, policy, "growth.aggregate", "2026-11-24 10:00") == [
        (0, [B], 0),
        (900, [K, A, D], 0),
    ]


def test_unavailable_targets_are_skipped_on_the_day_the_step_fires(rules: Rules) -> None:
    # Aruna Sharma is away from 2026-11-28: the step at 23:55 on the 27th reaches her,
    # a step at 00:10 on the 28th does not.
    policy = {"steps": [{"notify": "oncall", "after": "15m"}, {"notify": "secondary"}]}
    assert _plan(rules, policy, "profit.aggregate", "2026-11-27 23:40") == [
        (0, [K], 0),
        (900, [A], 0),
    ]
    assert _plan(rules, policy, "profit.aggregate", "2026-11-27 23:55") == [(0, [K], 0)]


def test_oncall_is_whoever_holds_the_shift_when_the_step_fires(rules: Rules) -> None:
    # A page at 08:50 on Monday 30 Nov during the Thanksgiving period: Kshama Kumar's shift
    # ended on the 29th at 09:00, Biswa Kalyan Rath holds it until 1 Dec 09:00.
    policy = {"steps": [{"notify": "oncall", "after": "15m"}, {"notify": "oncall"}]}
    assert _plan(rules, policy, "profit.unit", "2026-12-01 08:50") == [(0, [B], 0), (900, [D], 0)]


def test_named_engineers_are_targets(rules: Rules) -> None:
    policy = {"steps": [{"notify": [D, "primary"]}]}
    assert _plan(rules, policy, "profit.aggregate", "2026-11-24 10:00") == [(0, [D, K], 0)]


def test_unowned_pipeline_roles_resolve_to_nobody(rules: Rules) -> None:
    policy = {"steps": [{"notify": "primary"}, {"notify": "secondary"}, {"notify": "oncall"}]}
    assert _plan(rules, policy, "profit.unit", "2026-11-24 10:00") == [(0, [B], 0)]


def test_never_an_empty_plan(tmp_path: Path) -> None:
    def everyone_away(data: dict[str, Any]) -> None:
        for person in data["engineers"]:
            person["unavailable"] = [{"start": "2026-12-01", "end": "2026-12-31"}]

    rules = edited_rules(tmp_path, team=everyone_away)
    policy = {"steps": [{"notify": "team"}]}
    # Nobody is free: the on-call engineer of the rotation (week of 7 Dec) is paged anyway.
    assert _plan(rules, policy, "profit.unit", "2026-12-10 03:00") == [(0, [K], 0)]


def test_a_plan_asked_again_is_the_same_and_new_rules_plan_afresh(rules: Rules) -> None:
    """Plans are remembered (a batch's events fold at one instant): asking again with the
    same objects gives the same plan, and rules with an absence laid over (new objects,
    the same policy and pipeline) are planned again, not served the remembered plan."""
    policy = EscalationPolicy.model_validate(
        {"steps": [{"notify": "oncall", "after": "15m"}, {"notify": "secondary"}]}
    )
    pipeline, at = rules.pipeline("profit.aggregate"), pacific("2026-11-27 10:00")
    first = plan_escalation(policy, pipeline, at, rules)
    first.clear()  # a caller's list is its own
    again = plan_escalation(policy, pipeline, at, rules)
    assert [step.notify for step in again] == [[K], [A]]
    away = Absence.model_validate(
        {"id": "a1", "engineer": K, "from": "2026-11-27", "to": "2026-11-27", "by": "t", "at": at}
    )
    rostered = with_roster(rules, Roster(absences=[away], overrides=[]))
    assert rostered.pipeline("profit.aggregate") is pipeline
    # Kshama Kumar is away that day: Biswa Kalyan Rath covers her shift
    assert [step.notify for step in plan_escalation(policy, pipeline, at, rostered)] == [[B], [A]]
