"""Who is on call: weekly shifts, short shifts in holiday periods, overrides on top.

Shifts hand off at the rotation's wall-clock time in the team's zone, so a shift that
spans a DST change is an hour longer or shorter than `shift_days` x 24 h.

- Regular shift k (counted from `start`) belongs to rotation[k mod n]; if that engineer
  is unavailable for any part of it, the next available one in rotation order takes it.
- A holiday period cuts the regular shifts around it. Inside it, shifts last the period's
  `shift_days` and each goes to the next engineer in rotation order, after the previous
  shift's engineer, who is available for the whole shift.
- Overrides replace whatever the above gives for their interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from router.rules import Rules
from router.rules.oncall import HolidayPeriod
from router.rules.team import Engineer
from router.times import iso_z, local_day_span, require_aware, wall_clock

_TICK = timedelta(microseconds=1)


class Shift(BaseModel):
    model_config = ConfigDict(frozen=True)

    engineer: str
    email: str
    start: datetime
    end: datetime
    holiday_period: str | None = None
    override: str | None = None
    """The override's reason ("override" if it gave none) when an override made this shift."""

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def shift_json(shift: Shift) -> dict[str, object]:
    """The shift as `router oncall --json` and GET /v1/oncall show it."""
    return {
        "name": shift.engineer,
        "email": shift.email,
        "shift_start": iso_z(shift.start),
        "shift_end": iso_z(shift.end),
        "holiday_period": shift.holiday_period is not None,
    }


def available_during(person: Engineer, start: datetime, end: datetime, rules: Rules) -> bool:
    zone = rules.team.zone
    for span in person.unavailable:
        away_start, away_end = local_day_span(span.start, span.end, zone)
        if away_start < end and start < away_end:
            return False
    return True


def shift_at(moment: datetime, rules: Rules) -> Shift:
    moment = require_aware(moment)
    return next(s for s in shifts_between(moment, moment + _TICK, rules) if s.covers(moment))


def shifts_between(start: datetime, end: datetime, rules: Rules) -> list[Shift]:
    """The shifts that cover [start, end): contiguous, in order, none overlapping."""
    start, end = require_aware(start, "start"), require_aware(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    # Overrides reaching outside the range widen it, so that none is shown cut short.
    spans = [override.span(rules.team.zone) for override in rules.oncall.overrides]
    touching = [(lo, hi) for lo, hi in spans if lo < end and start < hi]
    first = min([start, *(lo for lo, _ in touching)])
    last = max([end, *(hi for _, hi in touching)])
    base = [_base_shift_at(first, rules)]
    while base[-1].end < last:
        base.append(_base_shift_at(base[-1].end, rules))
    pieces = _apply_overrides(base, rules)
    return [piece for piece in pieces if piece.end > start and piece.start < end]


def _handoff(k: int, rules: Rules) -> datetime:
    oncall = rules.oncall
    day = oncall.start + timedelta(days=k * oncall.shift_days)
    return wall_clock(day, oncall.handoff, rules.team.zone)


def _regular_index(moment: datetime, rules: Rules) -> int:
    local_day = moment.astimezone(rules.team.zone).date()
    k = (local_day - rules.oncall.start).days // rules.oncall.shift_days
    return k - 1 if moment < _handoff(k, rules) else k


def _period_span(period: HolidayPeriod, rules: Rules) -> tuple[datetime, datetime]:
    handoff, zone = rules.oncall.handoff, rules.team.zone
    return (
        wall_clock(period.start, handoff, zone),
        wall_clock(period.end + timedelta(days=1), handoff, zone),
    )


def _base_shift_at(moment: datetime, rules: Rules) -> Shift:
    for period in rules.oncall.holiday_periods:
        opens, closes = _period_span(period, rules)
        if opens <= moment < closes:
            return next(s for s in _period_shifts(period, rules) if s.covers(moment))
    k = _regular_index(moment, rules)
    start, end = _handoff(k, rules), _handoff(k + 1, rules)
    for period in rules.oncall.holiday_periods:
        opens, closes = _period_span(period, rules)
        if start < closes <= moment:
            start = closes
        if moment < opens < end:
            end = opens
    rotation = rules.oncall.rotation
    nominal = rotation[k % len(rotation)]
    return _assign(nominal, start, end, rules, skip_nominal=False, period=None)


def _period_shifts(period: HolidayPeriod, rules: Rules) -> list[Shift]:
    opens, closes = _period_span(period, rules)
    previous = _base_shift_at(opens - _TICK, rules).engineer
    shifts: list[Shift] = []
    day = period.start
    start = opens
    while start < closes:
        day += timedelta(days=period.shift_days)
        end = min(wall_clock(day, rules.oncall.handoff, rules.team.zone), closes)
        shift = _assign(previous, start, end, rules, skip_nominal=True, period=period.name)
        shifts.append(shift)
        previous, start = shift.engineer, end
    return shifts


def _assign(
    nominal: str,
    start: datetime,
    end: datetime,
    rules: Rules,
    *,
    skip_nominal: bool,
    period: str | None,
) -> Shift:
    """The first available engineer in rotation order from `nominal` (or after it)."""
    rotation = rules.oncall.rotation
    first = rotation.index(nominal) if nominal in rotation else -1
    offsets = range(1, len(rotation) + 1) if skip_nominal else range(len(rotation))
    candidates = [rotation[(first + offset) % len(rotation)] for offset in offsets]
    chosen = next(
        (
            name
            for name in candidates
            if available_during(rules.team.engineer(name), start, end, rules)
        ),
        candidates[0],  # nobody is free for the whole shift: keep the order, never leave a gap
    )
    person = rules.team.engineer(chosen)
    return Shift(
        engineer=chosen, email=str(person.email), start=start, end=end, holiday_period=period
    )


def _apply_overrides(base: list[Shift], rules: Rules) -> list[Shift]:
    span_start, span_end = base[0].start, base[-1].end
    overrides = []
    for override in rules.oncall.overrides:
        start, end = override.span(rules.team.zone)
        start, end = max(start, span_start), min(end, span_end)
        if start < end:
            person = rules.team.engineer(override.engineer)
            overrides.append(
                Shift(
                    engineer=person.name,
                    email=str(person.email),
                    start=start,
                    end=end,
                    override=override.reason or "override",
                )
            )
    pieces = list(overrides)
    for shift in base:
        remaining = [(shift.start, shift.end)]
        for cover in overrides:
            remaining = [
                part
                for lo, hi in remaining
                for part in ((lo, min(hi, cover.start)), (max(lo, cover.end), hi))
                if part[0] < part[1]
            ]
        pieces.extend(shift.model_copy(update={"start": lo, "end": hi}) for lo, hi in remaining)
    pieces.sort(key=lambda piece: piece.start)
    return pieces
