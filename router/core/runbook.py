"""The team's runbook, written from the rules: `router runbook`.

The team, the rotation for the next weeks with the holiday periods, each pipeline with
its owners, common issues and what to do, SLAs and deadlines, and the paging policy in
plain words. Built as a few kinds of blocks, then written as Markdown or HTML, so the
two say the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Literal

from router.core.durations import format_duration
from router.core.rotation import shift_note, shifts_between
from router.core.rules import Rules
from router.core.rules.pipelines import Action, WebhookAction
from router.core.times import local_day_span

WEEKS = 8
Format = Literal["md", "html"]


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Grid:
    headers: list[str]
    rows: list[list[str]]


Block = Heading | Paragraph | Bullets | Grid


def _local(moment: datetime, rules: Rules) -> str:
    return moment.astimezone(rules.team.zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _names(targets: list[str]) -> str:
    said = {"primary": "the primary owner", "secondary": "the secondary owner",
            "oncall": "the on-call engineer", "team": "the whole team"}  # fmt: skip
    return " and ".join(said.get(target, target) for target in targets)


def _action_words(action: Action) -> str:
    if isinstance(action, WebhookAction):
        how = "a button in the page, pressed by a person" if action.confirm else "by itself"
        return f"{action.label} ({action.webhook.method} {action.webhook.url}; {how})"
    return (
        f"emails {action.email} when it pages (at once in business hours, else at the "
        "next business-hours start), unless resolved"
    )


def runbook_blocks(rules: Rules, now: datetime) -> list[Block]:
    team, oncall, paging = rules.team, rules.oncall, rules.routing.paging
    hours = team.business_hours
    blocks: list[Block] = [
        Heading(1, "Data engineering team: on-call runbook"),
        Paragraph(
            f"Written by `router runbook` from the router's rules on {_local(now, rules)}. "
            "Change the rules, not this document."
        ),
        Heading(2, "The team"),
        Grid(
            ["Name", "Role", "Email"],
            [[p.name, "engineer", str(p.email)] for p in team.engineers]
            + [[a.name, "analyst", str(a.email)] for a in team.analysts]
            + [[c.name, "contact", str(c.email)] for c in team.contacts],
        ),
        Heading(2, "On-call schedule"),
        Paragraph(
            f"Every engineer is on call in a {oncall.shift_days}-day rotation "
            f"({', '.join(oncall.rotation)}), handing off at {oncall.handoff:%H:%M} "
            f"{team.timezone} time. During holiday periods the rotation happens every "
            "few days by the engineers' availability. An engineer away for some days is "
            "covered for those days only."
        ),
        Bullets(
            [
                f"{p.name}: {p.start} to {p.end}, {p.shift_days}-day shifts"
                for p in oncall.holiday_periods
            ]
            or ["No holiday periods."]
        ),
    ]
    first = now.astimezone(team.zone).date()
    shifts = shifts_between(
        *local_day_span(first, first + timedelta(weeks=WEEKS), team.zone), rules
    )
    blocks.append(Heading(3, f"The next {WEEKS} weeks"))
    blocks.append(
        Grid(
            ["Engineer", "From", "To", "Note"],
            [
                [s.engineer, _local(s.start, rules), _local(s.end, rules), shift_note(s)]
                for s in shifts
            ],
        )
    )
    blocks += [
        Heading(2, "When the router pages"),
        Bullets(
            [
                f"Business hours ({', '.join(hours.days)} {hours.start:%H:%M}-{hours.end:%H:%M}, "
                f"not on holidays): {', '.join(paging.business_hours)} page.",
                f"Nights, weekends and holidays: only {', '.join(paging.off_hours)} and "
                f"{', '.join(c.replace('_', '-') for c in paging.always_page_categories)} "
                "problems page; the rest waits for business hours.",
                f"{', '.join(paging.notify_types)} emails the analysts at any hour.",
                *(
                    f"An acknowledged {severity} left {format_duration(after_s)}, neither "
                    "resolved nor snoozed, is triggered again and its escalation starts over."
                    for severity, after_s in sorted(rules.routing.ack_timeout.items())
                ),
            ]
        ),
    ]
    for name, policy in rules.routing.escalation_policies.items():
        steps = [
            f"{_names(step.notify)}, then wait {format_duration(step.after)}"
            for step in policy.steps
        ]
        again = f" The whole list runs {policy.repeat} more time(s)." if policy.repeat else ""
        blocks.append(Paragraph(f"Policy {name}: " + "; ".join(steps) + "." + again))
    blocks.extend(_maintenance(rules, now))
    blocks.append(Heading(2, "Pipelines"))
    for pipeline in rules.pipelines.values():
        owners = pipeline.owners
        blocks.append(Heading(3, f"{pipeline.name} ({pipeline.id}), {pipeline.purpose}"))
        blocks.append(
            Paragraph(
                f"Owners: primary {owners.primary}, secondary {owners.secondary}."
                if owners.primary
                else "No owners: the on-call engineer is paged, then the team."
            )
        )
        if pipeline.runbook:
            blocks.append(Heading(4, "Common issues"))
            blocks.append(Bullets([f"{kind}: {text}" for kind, text in pipeline.runbook.items()]))
        if pipeline.actions:
            blocks.append(Heading(4, "What the router does by itself"))
            blocks.append(
                Bullets(
                    [
                        f"{kind}: {_action_words(action)}"
                        for kind, actions in pipeline.actions.items()
                        for action in actions
                    ]
                )
            )
        if pipeline.sla or pipeline.deadlines:
            blocks.append(Heading(4, "SLA"))
            deadlines = [
                f"{d.name}: {d.expects} by {d.at:%H:%M} {team.timezone} time, else {d.raises}"
                for d in pipeline.deadlines
            ]
            blocks.append(Bullets([*pipeline.sla, *deadlines]))
    return blocks


def _maintenance(rules: Rules, now: datetime) -> list[Block]:
    """The maintenance windows (the rules' weekly ones, and run-time ones on now or to
    come): what they cover pages nobody meanwhile."""
    zone = rules.team.zone
    lines = []
    for window in rules.maintenance_windows():
        covers = window.covering()
        if window.types is not None:
            covers += f" ({', '.join(sorted(window.types))})"
        p1 = ", P1s aside" if window.page_p1 else ", P1s too"
        if window.weekly is not None:
            when = f"every {window.weekly} ({zone.key})"
        elif (
            window.once is not None
            and window.once.end > now
            and window.once.end > window.once.start
        ):
            when = f"{_local(window.once.start, rules)} to {_local(window.once.end, rules)}"
        else:
            continue
        lines.append(f"{window.id}, {when}: {covers} page nobody{p1}. {window.reason}.")
    if not lines:
        return []
    return [Heading(2, "Maintenance windows"), Bullets(lines)]


def render(blocks: list[Block], form: Format) -> str:
    return _markdown(blocks) if form == "md" else _html(blocks)


def _markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        else:
            cells = [block.headers, ["---"] * len(block.headers), *block.rows]
            out.append("\n".join("| " + " | ".join(row) + " |" for row in cells))
    return "\n\n".join(out) + "\n"


def _html(blocks: list[Block]) -> str:
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>On-call runbook</title><style>body{font-family:sans-serif;max-width:900px;"
        "margin:auto;padding:12px}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left}</style></head><body>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            out.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in block.items) + "</ul>")
        else:
            head = "".join(f"<th>{escape(h)}</th>" for h in block.headers)
            rows = "".join(
                "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><tr>{head}</tr>{rows}</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
