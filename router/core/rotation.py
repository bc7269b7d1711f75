"""Who is on call: weekly shifts, short shifts in holiday periods, overrides on top.

Shifts hand off at the rotation's wall-clock time in the team's zone, so a shift that
spans a DST change is an hour longer or shorter than `shift_days` x 24 h.

- Regular shift k (counted from `start`) belongs to rotation[k mod n]. An absence covers
  only the time it names: the days the engineer is away are cut out of the shift as cover
  shifts, each held by the next engineer in rotation order who is free for all of it,
  preferring one who holds neither neighbouring week, so nobody holds two weeks running
  while another engineer is free.
- A holiday period cuts the regular shifts around it. Inside it, shifts last the period's
  `shift_days` and each goes to the next engineer in rotation order, after the previous
  shift's engineer, who is available for the whole shift.
- Overrides replace whatever the above gives for their interval.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from router.core.rules import Rules
from router.core.rules.oncall import HolidayPeriod
from router.core.rules.team import Engineer
from router.core.times import iso_z, local_day_span, require_aware, wall_clock

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
    cover_for: str | None = None
    """The engineer whose shift this covers while they are away."""

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
        "cover_for": shift.cover_for,
        "override": shift.override,
    }


def shift_note(shift: Shift) -> str:
    """What made the shift, in a few words, for tables and calendars."""
    if shift.override:
        return f"override: {shift.override}"
    if shift.cover_for:
        return f"covers {shift.cover_for} (away)"
    return shift.holiday_period or ""


def available_during(person: Engineer, start: datetime, end: datetime, rules: Rules) -> bool:
    return not _away_spans(person, start, end, rules)


def _away_spans(
    person: Engineer, start: datetime, end: datetime, rules: Rules
) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) the person is away for, merged and in order."""
    zone = rules.team.zone
    spans: list[tuple[datetime, datetime]] = []
    for span in sorted(person.unavailable, key=lambda span: span.start):
        away_start, away_end = local_day_span(span.start, span.end, zone)
        lo, hi = max(away_start, start), min(away_end, end)
        if lo >= hi:
            continue
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(hi, spans[-1][1]))
        else:
            spans.append((lo, hi))
    return spans


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
    base = _base_pieces_at(first, rules)
    while base[-1].end < last:
        base.extend(_base_pieces_at(base[-1].end, rules))
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


def _base_pieces_at(moment: datetime, rules: Rules) -> list[Shift]:
    """The shift covering `moment` before overrides: one holiday-period shift, or a weekly
    shift with its cover shifts cut out of it."""
    for period in rules.oncall.holiday_periods:
        opens, closes = _period_span(period, rules)
        if opens <= moment < closes:
            return [next(s for s in _period_shifts(period, rules) if s.covers(moment))]
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
    neighbours = {rotation[(k - 1) % len(rotation)], rotation[(k + 1) % len(rotation)]}
    return _with_covers(nominal, neighbours, start, end, rules)


def _with_covers(
    nominal: str, neighbours: set[str], start: datetime, end: datetime, rules: Rules
) -> list[Shift]:
    person = rules.team.engineer(nominal)
    pieces: list[Shift] = []
    cursor = start
    for away_start, away_end in _away_spans(person, start, end, rules):
        if cursor < away_start:
            pieces.append(_shift(person, cursor, away_start))
        pieces.append(_cover(nominal, neighbours, away_start, away_end, rules))
        cursor = away_end
    if cursor < end:
        pieces.append(_shift(person, cursor, end))
    merged = pieces[:1]
    for piece in pieces[1:]:  # an uncovered absence leaves its engineer on: one piece
        if (piece.engineer, piece.cover_for) == (merged[-1].engineer, merged[-1].cover_for):
            merged[-1] = merged[-1].model_copy(update={"end": piece.end})
        else:
            merged.append(piece)
    return merged


def _cover(
    nominal: str, neighbours: set[str], start: datetime, end: datetime, rules: Rules
) -> Shift:
    rotation = rules.oncall.rotation
    first = rotation.index(nominal) if nominal in rotation else -1
    candidates = [rotation[(first + offset) % len(rotation)] for offset in range(1, len(rotation))]
    free = [
        name
        for name in candidates
        if available_during(rules.team.engineer(name), start, end, rules)
    ]
    rested = [name for name in free if name not in neighbours]
    # nobody is free: the away engineer keeps the shift rather than leave a gap
    chosen = (rested or free or [nominal])[0]
    if chosen == nominal:
        return _shift(rules.team.engineer(nominal), start, end)
    return _shift(rules.team.engineer(chosen), start, end).model_copy(update={"cover_for": nominal})


def _shift(person: Engineer, start: datetime, end: datetime) -> Shift:
    return Shift(engineer=person.name, email=str(person.email), start=start, end=end)


def _period_shifts(period: HolidayPeriod, rules: Rules) -> list[Shift]:
    opens, closes = _period_span(period, rules)
    before = _base_pieces_at(opens - _TICK, rules)
    previous = next(s for s in before if s.covers(opens - _TICK)).engineer
    shifts: list[Shift] = []
    day = period.start
    start = opens
    while start < closes:
        day += timedelta(days=period.shift_days)
        end = min(wall_clock(day, rules.oncall.handoff, rules.team.zone), closes)
        shift = _after(previous, start, end, rules, period.name)
        shifts.append(shift)
        previous, start = shift.engineer, end
    return shifts


def _after(previous: str, start: datetime, end: datetime, rules: Rules, period: str) -> Shift:
    """The first engineer after `previous` in rotation order who is free for all of it."""
    rotation = rules.oncall.rotation
    first = rotation.index(previous) if previous in rotation else -1
    offsets = range(1, len(rotation) + 1)
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
