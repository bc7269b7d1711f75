"""oncall.yaml: the rotation, holiday periods and overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from router.core.rules.base import ClockTime, DateRange, Strict


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
        # Compared as wall-clock times when both are naive, so the zone is not needed yet.
        if (self.start.tzinfo is None) == (self.end.tzinfo is None) and self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def span(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as UTC instants, naive values read in `zone`."""

        def instant(moment: datetime) -> datetime:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
            return moment.astimezone(UTC)

        return instant(self.start), instant(self.end)


class OnCall(Strict):
    rotation: list[str] = Field(min_length=1)
    start: date
    handoff: ClockTime = time(9, 0)
    shift_days: int = Field(default=7, ge=1)
    holiday_periods: list[HolidayPeriod] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    report_to: list[str] = Field(default_factory=list)
    """Who gets the weekly on-call report besides the incoming and outgoing engineers."""

    @model_validator(mode="after")
    def _rotation_once_each(self) -> OnCall:
        doubled = sorted({name for name in self.rotation if self.rotation.count(name) > 1})
        if doubled:
            raise ValueError(f"rotation lists {', '.join(doubled)} more than once")
        return self
