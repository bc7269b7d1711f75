"""An acknowledgement's timeout, decided (router.delivery.firing.ack_timeout): pure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from router.delivery.firing.ack_timeout import Retrigger, decide
from router.delivery.firing.plan import Done, Release, Reschedule
from tests.test_firing_step import AT, incident

EXPIRES = AT + timedelta(hours=4)
NOTHING_ACKED = Done("nothing", "incident acknowledged", Release())
AGAIN = Retrigger(
    Done("sent", "acknowledgement timed out: triggered again", Release()), NOTHING_ACKED
)

# (the incident's changes, seconds after AT) -> the decision
# fmt: off
CASES: list[tuple[dict[str, Any] | None, float, Done | Retrigger]] = [
    (None, 0, Done("stale", "no such incident", Release())),
    ({}, 4 * 3600, Done("nothing", "incident triggered", Release())),  # it was triggered again already
    ({"status": "resolved", "ack_expires_at": EXPIRES}, 4 * 3600, Done("nothing", "incident resolved", Release())),
    ({"status": "acknowledged"}, 4 * 3600, NOTHING_ACKED),  # no timeout (P3 and below)
    ({"status": "acknowledged", "ack_expires_at": EXPIRES}, 3600, Done("early", "snoozed", Reschedule(EXPIRES.timestamp()))),
    ({"status": "acknowledged", "ack_expires_at": EXPIRES}, 4 * 3600, AGAIN),
    ({"status": "acknowledged", "ack_expires_at": EXPIRES}, 5 * 3600, AGAIN),
]
# fmt: on


@pytest.mark.parametrize(("changes", "after_s", "expected"), CASES)
def test_an_acknowledgement_times_out(
    changes: dict[str, Any] | None, after_s: float, expected: Done | Retrigger
) -> None:
    found = None if changes is None else incident(**changes)
    assert decide(found, AT + timedelta(seconds=after_s)) == expected
