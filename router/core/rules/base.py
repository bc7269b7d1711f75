"""Shared pieces of the rules models."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _parse_clock(value: object) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        found = _CLOCK.match(value.strip())
        if found:
            return time(int(found.group(1)), int(found.group(2)))
    raise ValueError(f"bad time of day {value!r}: write it quoted as 'HH:MM', like '19:00'")


ClockTime = Annotated[time, BeforeValidator(_parse_clock)]


class Strict(BaseModel):
    """Rules models reject unknown keys: a typo must not silently disable a rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRange(Strict):
    """Whole local days, both ends included."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def overlaps(self, other: DateRange) -> bool:
        return self.start <= other.end and other.start <= self.end
