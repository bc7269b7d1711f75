"""Deadlines: which of today's are past at `now` (pure), and the day a data_ready is for."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from router.core.events import Event
from router.core.rules import Rules
from router.core.rules.pipelines import Deadline, Pipeline
from router.core.times import require_aware, wall_clock


class DueDeadline(BaseModel):
    model_config = ConfigDict(frozen=True)

    pipeline: str
    deadline: Deadline
    day: date
    at: datetime


DEADLINE_SOURCE = "alert-router deadline"
"""The source of the data_late events a missed deadline raises."""


def reports_fed_by(pipeline_id: str, rules: Rules) -> list[Pipeline]:
    """The investor reports a pipeline's data goes into: its own, or those built from it."""
    return [
        report
        for report in rules.pipelines.values()
        if report.purpose == "investors" and pipeline_id in (report.id, *report.built_from)
    ]


def past_deadlines(rules: Rules, now: datetime) -> list[DueDeadline]:
    """Today's deadlines (team time) that `now` has passed."""
    today = require_aware(now).astimezone(rules.team.zone).date()
    found = []
    for pipeline in rules.pipelines.values():
        for deadline in pipeline.deadlines:
            at = wall_clock(today, deadline.at, rules.team.zone)
            if at <= now:
                found.append(DueDeadline(pipeline=pipeline.id, deadline=deadline, day=today, at=at))
    return found


def data_day(event: Event, rules: Rules) -> date:
    """`details.data_date` when the sender says which day's data it is; else the local day."""
    given = event.details.get("data_date")
    if isinstance(given, str):
        try:
            return date.fromisoformat(given)
        except ValueError:
            pass
    return event.occurred_at.astimezone(rules.team.zone).date()
