"""Absences, overrides and maintenance windows made at run time, laid over the rules'
YAML defaults.

The API, the console and the CLI add and remove them; they are kept in Redis
(router.state.rosterstore) and every process lays them over the rules it loaded, so the
rotation, the escalation plans, the calendar feed and every decision see them without a
restart. Checked like the YAML: a known engineer, an end after the start, no
overlapping override; a window over known pipelines and types, at most 14 days long.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.core.maintenance import Span, Window, WindowInvalid, one_off
from router.core.rules import Rules
from router.core.rules.base import DateRange
from router.core.rules.oncall import Override


class RosterInvalid(ValueError):
    """`field` is the request field at fault, named in the 400 answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class Change(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str
    engineer: str
    reason: str = ""
    by: str
    at: datetime


class Absence(Change):
    """Whole local days in the team's zone, both ends included."""

    first: date = Field(alias="from")
    last: date = Field(alias="to")


class RuntimeOverride(Change):
    start: datetime
    end: datetime

    def as_rule(self) -> Override:
        return Override(
            engineer=self.engineer, start=self.start, end=self.end, reason=self.reason or "override"
        )


class RuntimeWindow(BaseModel):
    """A one-off maintenance window (router.core.maintenance) set at run time."""

    model_config = ConfigDict(frozen=True)

    id: str
    pipelines: list[str] | Literal["all"]
    types: list[str] | None = None
    """The event types it mutes; None: every type."""
    start: datetime
    end: datetime
    """Moved to the moment it was ended, if it was ended early."""
    reason: str
    page_p1: bool = True
    by: str
    at: datetime
    ended_by: str | None = None

    def window(self) -> Window:
        pipelines = None if self.pipelines == "all" else frozenset(self.pipelines)
        types = None if self.types is None else frozenset(self.types)
        return Window(
            self.id, self.reason, pipelines, types, self.page_p1, once=Span(self.start, self.end)
        )

    def current(self, now: datetime) -> bool:
        """On now, or to come (one ended before it started is neither)."""
        return self.end > now and self.end > self.start


class Roster(BaseModel):
    model_config = ConfigDict(frozen=True)

    absences: list[Absence] = Field(default_factory=list)
    overrides: list[RuntimeOverride] = Field(default_factory=list)
    maintenance: list[RuntimeWindow] = Field(default_factory=list)


def with_roster(rules: Rules, roster: Roster) -> Rules:
    """The rules with the roster's absences, overrides and maintenance windows added to
    the YAML's."""
    if roster.maintenance:
        windows = tuple(window.window() for window in roster.maintenance)
        rules = rules.model_copy(update={"maintenance": windows})
    if not roster.absences and not roster.overrides:
        return rules
    engineers = []
    for person in rules.team.engineers:
        mine = [
            DateRange(start=a.first, end=a.last)
            for a in roster.absences
            if a.engineer == person.name
        ]
        engineers.append(
            person.model_copy(update={"unavailable": [*person.unavailable, *mine]})
            if mine
            else person
        )
    overrides = [*rules.oncall.overrides, *(o.as_rule() for o in roster.overrides)]
    return rules.model_copy(
        update={
            "team": rules.team.model_copy(update={"engineers": engineers}),
            "oncall": rules.oncall.model_copy(update={"overrides": overrides}),
        }
    )


def check_engineer(rules: Rules, name: str) -> None:
    if name not in {person.name for person in rules.team.engineers}:
        raise RosterInvalid("engineer", f"unknown engineer {name!r} (not in team.yaml)")


MAX_CHANGE_DAYS = 366
"""The longest absence or override: anything longer is a typo (a year off by ten), and
absences thousands of years long (the fuzzer's) slowed the calendar feed to seconds."""


def check_absence(rules: Rules, engineer: str, first: date, last: date) -> None:
    check_engineer(rules, engineer)
    if last < first:
        raise RosterInvalid("to", f"{last} is before from {first}")
    if (last - first).days >= MAX_CHANGE_DAYS:
        raise RosterInvalid("to", f"an absence is at most {MAX_CHANGE_DAYS} days")


def check_override(rules: Rules, engineer: str, start: datetime, end: datetime) -> None:
    """`rules` already carry the roster: a new override may overlap none of them."""
    check_engineer(rules, engineer)
    if end <= start:
        raise RosterInvalid("end", "end must be after start")
    if (end - start).days >= MAX_CHANGE_DAYS:
        raise RosterInvalid("end", f"an override is at most {MAX_CHANGE_DAYS} days")
    zone = rules.team.zone
    for existing in rules.oncall.overrides:
        lo, hi = existing.span(zone)
        if lo < end and start < hi:
            raise RosterInvalid(
                "start",
                f"overlaps the override of {existing.engineer} from {lo.isoformat()} "
                f"to {hi.isoformat()}",
            )


MaintenanceTarget = list[str] | Literal["all"]


def check_window(
    rules: Rules,
    pipelines: MaintenanceTarget,
    types: list[str] | None,
    start: datetime,
    end: datetime,
    reason: str,
) -> None:
    """A window to add: known pipelines and types, a reason, and `one_off`'s checks (an
    end after the start, at most 14 days)."""
    if pipelines != "all":
        if not pipelines:
            raise RosterInvalid("pipelines", 'name at least one pipeline, or "all"')
        for name in pipelines:
            if name not in rules.pipelines:
                known = ", ".join(sorted(rules.pipelines))
                raise RosterInvalid("pipelines", f"unknown pipeline {name!r} (known: {known})")
    if types is not None:
        if not types:
            raise RosterInvalid("types", "name at least one type, or leave it out for all")
        known_types = rules.event_types()
        for name in types:
            if name not in known_types:
                raise RosterInvalid("types", f"unknown event type {name!r} (the rules name none)")
    if not reason.strip():
        raise RosterInvalid("reason", "say why: it is on every muted incident's timeline")
    try:
        one_off("check", reason, start, end)
    except WindowInvalid as error:
        raise RosterInvalid(error.field or "end", error.message) from error
