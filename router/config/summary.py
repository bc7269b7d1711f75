"""Readable tables of what a rules directory says, for `router check`."""

from __future__ import annotations

from rich.table import Table

from router.config.contact_methods import masked
from router.core.durations import format_duration
from router.core.paging import describe_delays
from router.core.rules import Rules


def rules_summary(rules: Rules) -> list[Table]:
    team, hours = rules.team, rules.team.business_hours
    people = Table(
        title=f"Team ({team.timezone}; business hours {', '.join(hours.days)} "
        f"{hours.start:%H:%M}-{hours.end:%H:%M})"
    )
    for column in ("Name", "Role", "Email", "Unavailable", "Contact methods", "Push after"):
        people.add_column(column)
    for person in team.engineers:
        role = "engineer (on call)" if person.name in rules.oncall.rotation else "engineer"
        away = ", ".join(f"{span.start}..{span.end}" for span in person.unavailable)
        methods = ", ".join(masked(url) for url in person.contact_methods) or "email only"
        push = team.rules_for(person)
        after = f"high {describe_delays(push.high)}; low {describe_delays(push.low)}"
        people.add_row(
            person.name,
            role,
            str(person.email),
            away,
            methods,
            after if person.contact_methods else "-",
        )
    for analyst in team.analysts:
        people.add_row(analyst.name, "analyst", str(analyst.email), "", "", "")
    if team.chat:
        people.caption = f"Team chat: {masked(team.chat)}"
    if team.slack:
        people.caption = f"Team chat: Slack app, channel {team.slack.channel}"

    oncall = rules.oncall
    rotation = Table(
        title=f"On-call: {oncall.shift_days}-day shifts from {oncall.start}, "
        f"handoff {oncall.handoff:%H:%M}"
    )
    for column in ("Holiday period", "From", "To (included)", "Shift days"):
        rotation.add_column(column)
    for period in oncall.holiday_periods:
        rotation.add_row(period.name, str(period.start), str(period.end), str(period.shift_days))

    pipelines = Table(title="Pipelines")
    for column in (
        "Id",
        "Name",
        "Purpose",
        "Primary",
        "Secondary",
        "Runbook for",
        "SLA",
        "Deadlines",
    ):
        pipelines.add_column(column)
    for pipeline in rules.pipelines.values():
        pipelines.add_row(
            pipeline.id,
            pipeline.name,
            pipeline.purpose,
            pipeline.owners.primary or "-",
            pipeline.owners.secondary or "-",
            ", ".join(pipeline.runbook),
            "; ".join(pipeline.sla),
            ", ".join(f"{d.expects} by {d.at:%H:%M}" for d in pipeline.deadlines),
        )

    routing = Table(title="Routing rules (first match wins)")
    for column in ("#", "Rule", "Match", "Severity", "Category"):
        routing.add_column(column)
    for index, rule in enumerate(rules.routing.rules, start=1):
        match = rule.match.model_dump(exclude_defaults=True)
        said = " ".join(
            f"{key}={','.join(map(str, want)) if isinstance(want, list) else want}"
            for key, want in match.items()
        )
        routing.add_row(
            str(index), rule.name, said or "anything", rule.severity, rule.category or "-"
        )

    policies = Table(title="Escalation policies")
    for column in ("Policy", "Steps", "Repeat"):
        policies.add_column(column)
    for name, policy in rules.routing.escalation_policies.items():
        steps = " -> ".join(
            f"{'+'.join(s.notify)} ({format_duration(s.after)})" for s in policy.steps
        )
        policies.add_row(name, steps, str(policy.repeat))
    return [people, rotation, pipelines, routing, policies]
