"""What happens to a fired timer once its sends were tried: pure.

A send to retry or one another worker holds keeps the timer: "busy" leaves it to the
holder's lease, "retry" puts it back after a back-off, or for as long as the backend is
known to be down when nothing was tried. Otherwise the plan's `then` applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from router.delivery.firing.plan import BackOff, Leave, Plan, Reschedule, TimerChange
from router.queue.tasks import FireResult
from router.state.sendonce import Delivery, Result

ENDED: frozenset[Result] = frozenset({"sent", "failed", "already sent"})
"""Outcomes that leave nothing to do; "sent" and "failed" are the ones this attempt wrote."""
WRITTEN: frozenset[Result] = frozenset({"sent", "failed"})


@dataclass(frozen=True)
class Settled:
    result: FireResult
    said: str
    change: TimerChange
    counted: bool
    """The plan's metrics go with the change: one of its counting sends was sent."""


@dataclass(frozen=True)
class Riding:
    """The timer's change rides on the last send's outcome (router.delivery.firing.run), with the
    step's metrics or without, by that outcome."""

    counted_if_sent: bool
    counted_if_failed: bool


def riding(plan: Plan, earlier: Sequence[Delivery]) -> Riding | None:
    """Before the plan's last send, given the outcomes of the ones before it: the change
    may ride on it when they have all ended (whatever the last does then, `settle` gives
    the plan's `then`)."""
    if len(earlier) != len(plan.sends) - 1 or any(d.result not in ENDED for d in earlier):
        return None
    before = counted(plan, earlier)
    return Riding(before or plan.sends[-1].counts, before)


def counted(plan: Plan, deliveries: Sequence[Delivery]) -> bool:
    return any(
        send.counts and delivery.result == "sent"
        for send, delivery in zip(plan.sends, deliveries, strict=False)
    )


def settle(plan: Plan, deliveries: Sequence[Delivery], now: datetime) -> Settled:
    """`deliveries`: the outcomes of the plan's sends, in order (fewer when it stopped)."""
    results = {d.result for d in deliveries}
    was_counted = counted(plan, deliveries)
    if "busy" in results:  # another worker holds the send: its lease decides
        return Settled("busy", plan.said, Leave(), was_counted)
    if "retry" in results:
        asked_s = max(d.retry_after_s for d in deliveries)
        if all(d.held for d in deliveries if d.result == "retry"):
            # Nothing was tried (the backend is down): no attempt to back off from.
            said = f"{plan.said}; held {asked_s:g} s, the backend is down"
            return Settled("retry", said, Reschedule(now.timestamp() + asked_s), was_counted)
        return Settled("retry", plan.said, BackOff(asked_s), was_counted)
    if isinstance(plan.then, Reschedule):
        return Settled("sent" if deliveries else "early", plan.said, plan.then, was_counted)
    result: FireResult = "failed" if results == {"failed"} else "sent"
    return Settled(result, plan.said, plan.then, was_counted)
