"""oncall.yaml: the rotation, holiday periods and overrides."""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import Field, model_validator

from router.rules.base import ClockTime, DateRange, Strict


class HolidayPeriod(DateRange):
    """Whole days during which shifts are short and go by availability."""

    name: str
    shift_days: int = Field(default=2, ge=1)


class Override(Strict):
    """A named engineer on call for an explicit interval, whatever the rotation says.

    Naive times are wall-clock times in the team's zone.
    """

    engineer: str
    start: datetime
    end: datetime
    reason: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class OnCall(Strict):
    rotation: list[str] = Field(min_length=1)
    start: date
    handoff: ClockTime = time(9, 0)
    shift_days: int = Field(default=7, ge=1)
    holiday_periods: list[HolidayPeriod] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rotation_once_each(self) -> OnCall:
        doubled = sorted({name for name in self.rotation if self.rotation.count(name) > 1})
        if doubled:
            raise ValueError(f"rotation lists {', '.join(doubled)} more than once")
        return self
