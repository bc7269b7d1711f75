"""decide(event, rules, now): page now, defer to business hours, notify, or do nothing.

The seed's policy: during business hours P1-P3 page (P4 is only recorded); at night,
at weekends and on holidays only P1 and daily-data incidents page, the rest wait for
the next business-hours start. `report_ready` emails the analysts at any hour. During a
maintenance window over the event (router.core.maintenance) what would page or wait is
`suppressed` instead: it pages nobody, and is decided again when the window ends; a P1
pages anyway unless the window says `page_p1: false`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, Literal

from router.core.calendar import next_business_start, quiet_reason
from router.core.classify import Classification, classify
from router.core.escalation import PlannedStep, plan_escalation
from router.core.events import Event
from router.core.maintenance import Muted
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline
from router.core.rules.routing import Severity
from router.core.times import iso_z, require_aware

DecisionKind = Literal["page", "defer", "suppressed", "notify", "none"]


@dataclass(frozen=True, slots=True)
class Decision:
    """A dataclass: one is made per event folded, from values already checked."""

    pipeline: str
    type: str
    dedup_key: str
    occurred_at: datetime
    severity: Severity
    category: str | None
    decision: DecisionKind
    deliver_at: datetime | None
    """When the first message goes out; None when nothing will be sent."""
    escalation: list[PlannedStep]
    recipients: list[str]
    reason: str
    policy: str | None = None
    """The escalation policy's name, so a step can be resolved again when it fires."""
    muted: Muted | None = None
    """`suppressed`: the maintenance window's occurrence; `deliver_at` is its end."""

    def to_json(self) -> dict[str, Any]:
        """The `router simulate` line: times in UTC with `Z`, waits in whole minutes."""
        return {
            "pipeline": self.pipeline,
            "type": self.type,
            "dedup_key": self.dedup_key,
            "occurred_at": iso_z(self.occurred_at),
            "severity": self.severity,
            "category": self.category,
            "decision": self.decision,
            "deliver_at": iso_z(self.deliver_at) if self.deliver_at else None,
            "escalation": [
                {"after_minutes": step.after_s // 60, "notify": step.notify}
                for step in self.escalation
            ],
            "recipients": self.recipients,
            "reason": self.reason,
        }


def local_label(moment: datetime, rules: Rules) -> str:
    return moment.astimezone(rules.team.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def decide(event: Event, rules: Rules, now: datetime) -> Decision:
    """What a trigger that opens a new incident (or a notice) leads to at `now`."""
    now = require_aware(now)
    decision = _policy(event, rules, now)
    if decision.decision not in ("page", "defer"):
        return decision
    muted = rules.muting(event.pipeline, event.type, decision.severity, now)
    if muted is None:
        return decision
    zone = rules.team.zone
    reason = (
        f"{decision.severity} {event.type} pages nobody during {muted.describe(zone)}: "
        "it is decided again then, if still open."
    )
    return replace(
        decision,
        decision="suppressed",
        deliver_at=muted.until,
        escalation=[],
        policy=None,
        reason=reason,
        muted=muted,
    )


def _policy(event: Event, rules: Rules, now: datetime) -> Decision:
    """The decision by the paging policy and the calendar alone."""
    found = classify(event, rules)
    pipeline = rules.pipeline(event.pipeline)
    paging = rules.routing.paging
    made = partial(_decision, event, found.severity, found.category)

    if event.type in paging.notify_types:
        recipients = analyst_emails(pipeline, rules)
        if not recipients:
            return made("none", f"{event.type} is a notice, but no analyst is listed for it.")
        return made(
            "notify",
            f"{event.type} is a notice: email the analysts now, at any hour.",
            deliver_at=now,
            recipients=recipients,
        )

    what = f"{found.severity} {event.type} (rule '{found.rule.name}')"
    urgent_category = found.category in paging.always_page_categories
    quiet = quiet_reason(now, rules.team)
    if quiet is not None and (found.severity in paging.off_hours or urgent_category):
        why = f"its category is {found.category}" if urgent_category else f"it is {found.severity}"
        policy, plan = _escalation(found, pipeline, now, rules, off_hours=True)
        reason = f"{what} pages during {quiet} because {why}: page now with policy {policy}."
        return made("page", reason, deliver_at=now, plan=plan, policy=policy)
    if not (found.severity in paging.business_hours or urgent_category):
        return made("none", f"{what} never pages: recorded on the incident only.")
    if quiet is None:
        policy, plan = _escalation(found, pipeline, now, rules, off_hours=False)
        reason = f"{what} during business hours: page now with policy {policy}."
        return made("page", reason, deliver_at=now, plan=plan, policy=policy)
    deliver_at = next_business_start(now, rules.team)
    policy, plan = _escalation(found, pipeline, deliver_at, rules, off_hours=False)
    reason = (
        f"{what} does not page during {quiet}: it pages at "
        f"{local_label(deliver_at, rules)} if still open."
    )
    return made("defer", reason, deliver_at=deliver_at, plan=plan, policy=policy)


def analyst_emails(pipeline: Pipeline, rules: Rules) -> list[str]:
    wanted = pipeline.report_to
    return [str(a.email) for a in rules.team.analysts if wanted is None or a.name in wanted]


def _escalation(
    found: Classification, pipeline: Pipeline, start: datetime, rules: Rules, *, off_hours: bool
) -> tuple[str, list[PlannedStep]]:
    """The policy's name and its plan from `start`."""
    paging = rules.routing.paging
    if found.rule.escalation:
        name = found.rule.escalation
    elif not pipeline.owners.names():
        name = paging.unowned_policy
    else:
        name = paging.off_hours_policy if off_hours else paging.business_hours_policy
    policy = rules.routing.escalation_policies[name]
    return name, plan_escalation(policy, pipeline, start, rules)


def _decision(
    event: Event,
    severity: Severity,
    category: str | None,
    kind: DecisionKind,
    reason: str,
    *,
    deliver_at: datetime | None = None,
    plan: list[PlannedStep] | None = None,
    recipients: list[str] | None = None,
    policy: str | None = None,
) -> Decision:
    return Decision(
        pipeline=event.pipeline,
        type=event.type,
        dedup_key=event.dedup_key,
        occurred_at=event.occurred_at,
        severity=severity,
        category=category,
        decision=kind,
        deliver_at=deliver_at,
        escalation=plan or [],
        recipients=recipients or [],
        reason=reason,
        policy=policy,
    )


def no_action(
    event: Event,
    rules: Rules,
    reason: str,
    severity: Severity | None = None,
    category: str | None = None,
) -> Decision:
    """A lifecycle or folded event: nothing is sent. A folded event keeps its incident's
    severity and category, so the rules are not scanned again (the hot path of a storm)."""
    if severity is None:
        found = classify(event, rules)
        severity, category = found.severity, found.category
    return _decision(event, severity, category, "none", reason)
