"""Absences and overrides made at run time, laid over the rules' YAML defaults.

The API, the console and the CLI add and remove them; they are kept in Redis
(router.state.rosterstore) and every process lays them over the rules it loaded, so the
rotation, the escalation plans and the calendar feed see them without a restart.
Checked like the YAML: a known engineer, an end after the start, no overlapping override.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

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


class Roster(BaseModel):
    model_config = ConfigDict(frozen=True)

    absences: list[Absence] = Field(default_factory=list)
    overrides: list[RuntimeOverride] = Field(default_factory=list)


def with_roster(rules: Rules, roster: Roster) -> Rules:
    """The rules with the roster's absences and overrides added to the YAML's."""
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
