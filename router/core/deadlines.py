"""Deadlines: which of today's are past at `now` (pure), and the day a data_ready is for."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from router.core.classify import severity_for
from router.core.events import Event
from router.core.maintenance import muting
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
    """Today's deadlines (team time) that `now` has passed, except those a maintenance
    window is over now: they are raised when it ends, if the data is still missing.
    Yesterday's, only when a window was over it then (one that ran past midnight)."""
    today = require_aware(now).astimezone(rules.team.zone).date()
    found = []
    for day in (today - timedelta(days=1), today):
        for pipeline in rules.pipelines.values():
            for deadline in pipeline.deadlines:
                at = wall_clock(day, deadline.at, rules.team.zone)
                if at > now or _muted(pipeline, deadline, day, rules, now):
                    continue
                if day < today and not _muted(pipeline, deadline, day, rules, at):
                    continue
                found.append(DueDeadline(pipeline=pipeline.id, deadline=deadline, day=day, at=at))
    return found


def _muted(pipeline: Pipeline, deadline: Deadline, day: date, rules: Rules, at: datetime) -> bool:
    """A maintenance window over the deadline's data_late event is on at `at`."""
    windows = rules.maintenance_windows()
    if not windows:
        return False
    details = {"data_date": str(day)}  # as router.service.watchers raises it
    severity = severity_for(pipeline.id, deadline.raises, details, rules)
    muted = muting(windows, pipeline.id, deadline.raises, severity, at, rules.team.zone)
    return muted is not None


def data_day(event: Event, rules: Rules) -> date:
    """`details.data_date` when the sender says which day's data it is; else the local day."""
    given = event.details.get("data_date")
    if isinstance(given, str):
        try:
            return date.fromisoformat(given)
        except ValueError:
            pass
    return event.occurred_at.astimezone(rules.team.zone).date()
