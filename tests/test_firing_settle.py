"""What happens to a fired timer once its sends were tried (router.delivery.firing.settle): pure."""

from __future__ import annotations

import pytest

from router.delivery.firing.plan import (
    BackOff,
    Leave,
    Plan,
    Refused,
    Release,
    Reschedule,
    Send,
    TimerChange,
)
from router.delivery.firing.settle import Riding, riding, settle
from router.state.sendonce import Delivery, Record
from tests.test_firing_step import AT

SENT, FAILED, ALREADY, BUSY = (
    Delivery("sent"),
    Delivery("failed", "400"),
    Delivery("already sent"),
    Delivery("busy"),
)
RETRY = Delivery("retry", "timeout")
ASKED = Delivery("retry", "429", retry_after_s=30)
HELD = Delivery("retry", "smtp is down", 4, held=True)
LATER = Reschedule(AT.timestamp() + 120)


def _plan(sends: int, then: Release | Reschedule, counts: int) -> Plan:
    """`counts`: how many of the first sends count the step (its emails)."""
    made = tuple(Send(Refused(""), f"k{n}", Record(), counts=n < counts) for n in range(sends))
    return Plan(said="page to B", sends=made, then=then)  # settle never looks at what was sent


# (outcomes, the plan's then, sends that count) -> result, what is said, the change, counted
# fmt: off
CASES: list[tuple[list[Delivery], Release | Reschedule, int, tuple[str, str, TimerChange, bool]]] = [
    ([SENT], Release(), 1, ("sent", "page to B", Release(), True)),
    ([ALREADY], Release(), 1, ("sent", "page to B", Release(), False)),  # a redelivery
    ([FAILED], Release(), 1, ("failed", "page to B", Release(), False)),
    ([FAILED, SENT], Release(), 1, ("sent", "page to B", Release(), False)),  # the push went
    ([SENT, FAILED], Release(), 1, ("sent", "page to B", Release(), True)),
    ([], Release(), 0, ("sent", "page to B", Release(), False)),  # nobody to tell
    ([SENT, BUSY], Release(), 1, ("busy", "page to B", Leave(), True)),
    ([RETRY, BUSY], Release(), 1, ("busy", "page to B", Leave(), False)),  # busy first
    ([SENT, RETRY], Release(), 1, ("retry", "page to B", BackOff(0.0), True)),
    ([ASKED], Release(), 1, ("retry", "page to B", BackOff(30.0), False)),  # at least 30 s
    ([HELD], Release(), 1, ("retry", "page to B; held 4 s, the backend is down", Reschedule(AT.timestamp() + 4), False)),
    ([HELD, RETRY], Release(), 1, ("retry", "page to B", BackOff(4.0), False)),  # one was tried
    ([SENT], LATER, 0, ("sent", "page to B", LATER, False)),  # a push timer: the next push
    ([FAILED], LATER, 0, ("sent", "page to B", LATER, False)),
    ([], LATER, 0, ("early", "page to B", LATER, False)),
    ([RETRY], LATER, 0, ("retry", "page to B", BackOff(0.0), False)),
]
# fmt: on


@pytest.mark.parametrize(("outcomes", "then", "counts", "expected"), CASES)
def test_settle(
    outcomes: list[Delivery],
    then: Release | Reschedule,
    counts: int,
    expected: tuple[str, str, TimerChange, bool],
) -> None:
    result, said, change, counted = expected
    found = settle(_plan(len(outcomes), then, counts), outcomes, AT)
    assert (found.result, found.said, found.change, found.counted) == (
        result,
        said,
        change,
        counted,
    )


# (the outcomes before the last send, sends that count) -> the change rides on the last one
# fmt: off
RIDING: list[tuple[list[Delivery], int, int, Riding | None]] = [
    ([], 1, 1, Riding(counted_if_sent=True, counted_if_failed=False)),  # one email
    ([], 1, 0, Riding(False, False)),  # one notice, counting nothing
    ([SENT], 2, 1, Riding(True, True)),  # the email went, then a push
    ([FAILED], 2, 1, Riding(False, False)),  # the email failed, then a push
    ([ALREADY], 2, 2, Riding(True, False)),  # sent before: this attempt counts nothing for it
    ([SENT, ALREADY], 3, 3, Riding(True, True)),
    ([RETRY], 2, 1, None),  # the timer backs off: written after the sends
    ([SENT, BUSY], 3, 1, None),
    ([HELD], 2, 2, None),
]
# fmt: on


@pytest.mark.parametrize(("earlier", "sends", "counts", "expected"), RIDING)
def test_the_timers_change_rides_on_the_last_send_when_the_rest_have_ended(
    earlier: list[Delivery], sends: int, counts: int, expected: Riding | None
) -> None:
    assert riding(_plan(sends, Release(), counts), earlier) == expected


def test_nothing_to_ride_on_without_sends() -> None:
    assert riding(_plan(0, Release(), 0), []) is None
