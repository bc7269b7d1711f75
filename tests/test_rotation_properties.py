"""Properties of the rotation over generated teams, calendars and ranges."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.core.rotation import Shift, shifts_between
from router.core.rules import Rules
from router.core.rules.oncall import OnCall
from router.core.rules.team import Team
from tests.support import PACIFIC

NAMES = ["Ada", "Bo", "Cy", "Di", "Ed"]
EPOCH = date(2026, 1, 1)


def _days(lo: int, hi: int) -> st.SearchStrategy[date]:
    return st.integers(lo, hi).map(lambda n: EPOCH + timedelta(days=n))


@st.composite
def day_ranges(draw: st.DrawFn, most: int, longest: int) -> list[tuple[date, date]]:
    ranges = []
    for _ in range(draw(st.integers(0, most))):
        first = draw(_days(-30, 500))
        ranges.append((first, first + timedelta(days=draw(st.integers(0, longest)))))
    return ranges


@st.composite
def scenarios(draw: st.DrawFn, base: Rules) -> tuple[Rules, datetime, datetime]:
    names = draw(st.permutations(NAMES[: draw(st.integers(1, len(NAMES)))]))
    engineers = [
        {
            "name": name,
            "email": f"{name.lower()}@example.com",
            "unavailable": [{"start": a, "end": b} for a, b in draw(day_ranges(3, 12))],
        }
        for name in names
    ]
    periods: list[dict[str, object]] = []
    for first, last in sorted(draw(day_ranges(3, 20))):
        if periods and first <= periods[-1]["end"]:  # type: ignore[operator]
            continue  # holiday periods never overlap (the loader refuses that)
        periods.append(
            {
                "name": f"p{len(periods)}",
                "start": first,
                "end": last,
                "shift_days": draw(st.integers(1, 3)),
            }
        )
    oncall = OnCall.model_validate(
        {
            "rotation": draw(st.permutations(names)),
            "start": draw(_days(-200, 200)),
            "handoff": time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
            "shift_days": draw(st.integers(1, 14)),
            "holiday_periods": periods,
        }
    )
    team = Team.model_validate({"timezone": "America/Los_Angeles", "engineers": engineers})
    rules = base.model_copy(update={"team": team, "oncall": oncall})
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 500 * 1440)))
    length = timedelta(minutes=draw(st.integers(1, 60 * 1440)))
    return rules, start, start + length


def _free(rules: Rules, name: str, shift: Shift) -> bool:
    """Independent of the code under test: every local day the shift touches is free."""
    first = shift.start.astimezone(PACIFIC).date()
    last = (shift.end - timedelta(microseconds=1)).astimezone(PACIFIC).date()
    person = rules.team.engineer(name)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return all(span.end < day or day < span.start for day in days for span in person.unavailable)


def _first_free(rules: Rules, order: list[str], shift: Shift) -> str:
    return next((name for name in order if _free(rules, name, shift)), order[0])


def _nominal(rules: Rules, shift: Shift) -> str:
    oncall = rules.oncall
    local = shift.start.astimezone(PACIFIC)
    days = (local.date() - oncall.start).days - (1 if local.time() < oncall.handoff else 0)
    return oncall.rotation[(days // oncall.shift_days) % len(oncall.rotation)]


def _cycle_from(order: list[str], name: str, skip_self: bool) -> list[str]:
    at = order.index(name) + (1 if skip_self else 0)
    return [order[(at + n) % len(order)] for n in range(len(order))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rotation_properties(rules: Rules, data: st.DataObject) -> None:
    generated, start, end = data.draw(scenarios(rules))
    shifts = shifts_between(start, end, generated)
    order = generated.oncall.rotation

    # Cover the range, contiguous, without overlap.
    assert shifts[0].start <= start < shifts[0].end
    assert shifts[-1].start < end <= shifts[-1].end
    for before, after in itertools.pairwise(shifts):
        assert before.end == after.start
    for shift in shifts:
        assert shift.start < shift.end

    handoff = generated.oncall.handoff
    for before, shift in itertools.pairwise(shifts):
        # Every handoff happens at the handoff wall-clock time, whatever the DST offset;
        # a cover shift starts or ends at the local midnight its absence names.
        local_day = shift.start.astimezone(PACIFIC).date()
        allowed = {
            datetime.combine(local_day + timedelta(days=shift_back), handoff, tzinfo=PACIFIC)
            for shift_back in (0, -1)  # a handoff in the spring gap shows as an hour later
        }
        if shift.cover_for or before.cover_for:
            allowed.add(datetime.combine(local_day, time(0, 0), tzinfo=PACIFIC))
        # Compared as UTC instants: a wall time in the spring gap (a 02:00 handoff on the
        # day clocks go forward) is never equal to an instant of another zone (PEP 495).
        assert shift.start.astimezone(UTC) in {t.astimezone(UTC) for t in allowed}, shift

    for index, shift in enumerate(shifts):
        # Assigned to an available engineer whenever one is free for the whole shift.
        if any(_free(generated, name, shift) for name in order):
            assert _free(generated, shift.engineer, shift), shift
        if shift.holiday_period is None:
            # A weekly shift stays with its engineer, except for the days they are away,
            # which someone free covers.
            nominal = _nominal(generated, shift)
            if shift.cover_for is None:
                assert shift.engineer == nominal, shift
            else:
                assert shift.cover_for == nominal != shift.engineer, shift
                assert not _free(generated, nominal, shift), shift
        elif index > 0:
            previous = shifts[index - 1].engineer
            expected = _first_free(generated, _cycle_from(order, previous, skip_self=True), shift)
            assert shift.engineer == expected, shift
