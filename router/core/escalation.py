"""Escalation plans: who is notified at each step, and when, if nobody acknowledges.

Targets are resolved at the instant their step fires: the on-call engineer then, and
availability on that day. Within a round a target already notified is skipped; a step
left with nobody is dropped along with its wait. A plan is never empty: with everybody
away, the on-call engineer is paged anyway.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from router.core.rotation import available_during, shift_at
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline
from router.core.rules.routing import EscalationPolicy

_DAY_TICK = timedelta(seconds=1)


class PlannedStep(BaseModel):
    model_config = ConfigDict(frozen=True)

    after_s: int
    """Seconds after the first message goes out."""
    notify: list[str]
    round: int
    step: int


def resolve_target(target: str, pipeline: Pipeline, at: datetime, rules: Rules) -> list[str]:
    if target == "primary":
        return [pipeline.owners.primary] if pipeline.owners.primary else []
    if target == "secondary":
        return [pipeline.owners.secondary] if pipeline.owners.secondary else []
    if target == "oncall":
        return [shift_at(at, rules).engineer]
    if target == "team":
        return [person.name for person in rules.team.engineers]
    return [target]


def recipients_now(
    step: PlannedStep, policy_name: str | None, pipeline_id: str, start: datetime, rules: Rules
) -> list[str]:
    """Who a planned step notifies under `rules` as they are when it fires: the plan is
    made again from the same start, so an absence or override added since the incident
    opened is seen. The planned names stand when the step is no longer in the plan (its
    targets all away) or the policy is gone: a step is never silent."""
    policy = rules.routing.escalation_policies.get(policy_name or "")
    pipeline = rules.pipelines.get(pipeline_id)
    if policy is None or pipeline is None:
        return step.notify
    for fresh in plan_escalation(policy, pipeline, start, rules):
        if (fresh.round, fresh.step) == (step.round, step.step):
            return fresh.notify
    return step.notify


_Inputs = tuple[EscalationPolicy, Pipeline, datetime, Rules]
_PLANS: dict[tuple[int, int, datetime, int], tuple[_Inputs, tuple[PlannedStep, ...]]] = {}
_PLANS_KEPT = 512
"""Plans remembered: the events of one batch fold at one `now`, so a storm of new
incidents asks for the same few plans again and again, and each costs a walk of the
rotation per step (router.core.rotation). Keyed by the objects' ids: the entry holds
the objects, so no other object can have their ids while it lives."""


def plan_escalation(
    policy: EscalationPolicy, pipeline: Pipeline, start: datetime, rules: Rules
) -> list[PlannedStep]:
    key = (id(policy), id(pipeline), start, id(rules))
    found = _PLANS.get(key)
    if found is not None:
        return list(found[1])
    plan = _plan(policy, pipeline, start, rules)
    if len(_PLANS) >= _PLANS_KEPT:
        _PLANS.clear()
    _PLANS[key] = ((policy, pipeline, start, rules), tuple(plan))
    return plan


def _plan(
    policy: EscalationPolicy, pipeline: Pipeline, start: datetime, rules: Rules
) -> list[PlannedStep]:
    plan: list[PlannedStep] = []
    offset_s = 0
    for round_no in range(policy.repeat + 1):
        notified: set[str] = set()
        for step_no, step in enumerate(policy.steps):
            at = start + timedelta(seconds=offset_s)
            names = []
            for target in step.notify:
                for name in resolve_target(target, pipeline, at, rules):
                    person = rules.team.engineer(name)
                    if name in notified or not available_during(person, at, at + _DAY_TICK, rules):
                        continue
                    notified.add(name)
                    names.append(name)
            if names:
                plan.append(
                    PlannedStep(after_s=offset_s, notify=names, round=round_no, step=step_no)
                )
                offset_s += step.after
    if not plan:
        plan.append(
            PlannedStep(after_s=0, notify=[shift_at(start, rules).engineer], round=0, step=0)
        )
    return plan
