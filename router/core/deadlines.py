"""Deadlines: which of today's are past at `now` (pure), and the day a data_ready is for."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from router.core.classify import severity_for
from router.core.events import Event
from router.core.maintenance import LONGEST, Muted
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
    window is over now: they are raised when it ends, if the data is still missing. An
    earlier day's, for a day after the window that was over it then has ended (a window
    past midnight, or days long)."""
    today = require_aware(now).astimezone(rules.team.zone).date()
    days = [today]
    if rules.maintenance_windows():
        days = [today - timedelta(days=n) for n in range(LONGEST.days + 1, -1, -1)]
    found = []
    for day in days:
        for pipeline in rules.pipelines.values():
            for deadline in pipeline.deadlines:
                at = wall_clock(day, deadline.at, rules.team.zone)
                if at > now or _muted(pipeline, deadline, day, rules, now) is not None:
                    continue
                if day < today:
                    held = _muted(pipeline, deadline, day, rules, at)
                    if held is None or not held.until <= now < held.until + RAISED_LATE_FOR:
                        continue
                found.append(DueDeadline(pipeline=pipeline.id, deadline=deadline, day=day, at=at))
    return found


RAISED_LATE_FOR = timedelta(days=1)
"""How long after a window's end an earlier day's deadline it held is still raised (the
`seen` marker of one raised lasts longer: it is raised once)."""


def deadline_details(day: date) -> dict[str, str]:
    """The details of a missed deadline's data_late event (router.service.watchers)."""
    return {"data_date": str(day)}


def _muted(
    pipeline: Pipeline, deadline: Deadline, day: date, rules: Rules, at: datetime
) -> Muted | None:
    """The maintenance window over the deadline's data_late event at `at`, if any."""
    if not rules.maintenance_windows():
        return None
    severity = severity_for(pipeline.id, deadline.raises, deadline_details(day), rules)
    return rules.muting(pipeline.id, deadline.raises, severity, at)


def data_day(event: Event, rules: Rules) -> date:
    """`details.data_date` when the sender says which day's data it is; else the local day."""
    given = event.details.get("data_date")
    if isinstance(given, str):
        try:
            return date.fromisoformat(given)
        except ValueError:
            pass
    return event.occurred_at.astimezone(rules.team.zone).date()
