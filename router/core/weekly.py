"""The weekly on-call report, from the week's incidents and their timelines.

Pages per engineer split by when they went out (business hours, nights, weekends,
holidays), time to acknowledge and to resolve per pipeline (medians), and the incidents
handed over open, with their notes and estimates."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from router.core.calendar import holiday_name, quiet_reason
from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.timeline import Line, notes

PAGE_KINDS = ("page", "escalation", "deferred", "data_late")
WHEN = ("business hours", "nights", "weekends", "holidays")


@dataclass(frozen=True)
class PipelineTimes:
    pipeline: str
    acknowledged: int
    ack_median_min: float | None
    resolved: int
    resolve_median_min: float | None


@dataclass(frozen=True)
class HandedOver:
    incident: Incident
    notes: list[Line]


@dataclass
class WeekReport:
    start: datetime
    end: datetime
    pages: dict[str, Counter[str]] = field(default_factory=dict)
    times: list[PipelineTimes] = field(default_factory=list)
    handed_over: list[HandedOver] = field(default_factory=list)

    def total_pages(self) -> int:
        return sum(sum(counts.values()) for counts in self.pages.values())


def when_kind(moment: datetime, rules: Rules) -> str:
    """Which of WHEN an instant falls in, in team time."""
    team = rules.team
    day = moment.astimezone(team.zone).date()
    if holiday_name(day, team) is not None:
        return "holidays"
    if not team.business_hours.is_business_weekday(day):
        return "weekends"
    return "business hours" if quiet_reason(moment, team) is None else "nights"


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _median_min(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def week_report(
    incidents: list[Incident],
    timelines: Mapping[str, Sequence[Line]],
    start: datetime,
    end: datetime,
    rules: Rules,
) -> WeekReport:
    report = WeekReport(start, end)
    acks: dict[str, list[float]] = {}
    resolves: dict[str, list[float]] = {}
    for incident in incidents:
        for item in timelines.get(incident.id, []):
            paged = item.kind == "message" and item.message in PAGE_KINDS
            if not (paged or item.kind == "digested") or item.to is None:  # held ones count
                continue
            at = _instant(item.at)
            if start <= at < end:
                counts = report.pages.setdefault(item.to, Counter())
                counts[when_kind(at, rules)] += 1
        since = incident.deliver_at or incident.opened_at
        if incident.acknowledged_at is not None and start <= incident.acknowledged_at < end:
            waited = (incident.acknowledged_at - since).total_seconds() / 60
            acks.setdefault(incident.pipeline, []).append(max(0.0, waited))
        if incident.resolved_at is not None and start <= incident.resolved_at < end:
            took = (incident.resolved_at - incident.opened_at).total_seconds() / 60
            resolves.setdefault(incident.pipeline, []).append(took)
        if incident.status != "resolved" and incident.opened_at < end:
            report.handed_over.append(HandedOver(incident, notes(timelines.get(incident.id, []))))
    for pipeline_id in sorted(set(acks) | set(resolves)):
        pipeline = rules.pipelines.get(pipeline_id)
        report.times.append(
            PipelineTimes(
                pipeline.name if pipeline else pipeline_id,
                len(acks.get(pipeline_id, [])),
                _median_min(acks.get(pipeline_id, [])),
                len(resolves.get(pipeline_id, [])),
                _median_min(resolves.get(pipeline_id, [])),
            )
        )
    report.handed_over.sort(key=lambda h: h.incident.opened_at)
    return report
