"""The shell of a fired timer: a decision's sends performed, one attempt each, and what
happens to the timer written, once.

The timer's change (its release or reschedule, a later push timer, the step's metrics,
a stored notice's deletion) rides on the last send's outcome when every send before it
has ended: the marker's script writes it with the outcome, so a page that goes makes no
Redis round trip of its own for its timer. When that send ends otherwise (another
worker's, to retry, sent before), the change is written after it, as one MULTI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import redis

from router.core.message import OutgoingMessage
from router.delivery.firing.outbound import Outbound
from router.delivery.firing.plan import (
    BackOff,
    Done,
    Fired,
    IncidentEmail,
    Leave,
    Plan,
    Release,
    Reschedule,
    Send,
)
from router.delivery.firing.settle import WRITTEN, riding, settle
from router.state import metrics, outbox, stream, timers
from router.state.pipe import Pipe
from router.state.sendonce import Command, Delivery, Lease, Writes


class Ahead(Protocol):
    """What a fire task did ahead for its sends (router.delivery.firing.Prepared)."""

    def take(self, key: str) -> Lease | Delivery | None:
        """The send's marker claimed ahead, taken once; None: claim it when it is sent."""
        ...

    def after(self, key: str) -> IncidentEmail | None:
        """The email the task sends after this send, if one is to go."""
        ...

    def composed(self, key: str) -> OutgoingMessage | None:
        """The send's email composed ahead, taken once; None: compose it when it is sent."""
        ...


class NothingAhead:
    """A timer fired alone."""

    def take(self, key: str) -> None:
        return None

    def after(self, key: str) -> None:
        return None

    def composed(self, key: str) -> None:
        return None


NOTHING_AHEAD = NothingAhead()


class Runner:
    def __init__(
        self, client: redis.Redis, outbound: Outbound, retry_backoff_s: float, lease_s: float
    ) -> None:
        self.redis, self.outbound = client, outbound
        self.retry_backoff_s, self.lease_s = retry_backoff_s, lease_s

    def done(self, member: str, done: Done) -> Fired:
        """A decision without sends: its change alone."""
        if isinstance(done.change, Release):
            timers.release(self.redis, member)
        elif isinstance(done.change, Reschedule):
            timers.reschedule(self.redis, member, done.change.due_ts)
        return Fired(done.result, done.said)

    def run(self, member: str, plan: Plan, now: datetime, ahead: Ahead = NOTHING_AHEAD) -> Fired:
        """`ahead`: the sends' markers claimed ahead, and what is sent next."""
        if plan.chat is not None:
            stream.append_once(self.redis, plan.chat.line, plan.chat.tag, now, self.lease_s)
        deliveries: list[Delivery] = []
        ride = None
        for number, send in enumerate(plan.sends):
            record = send.record
            if number == len(plan.sends) - 1:
                ride = riding(plan, deliveries)
            if ride is not None:
                if_failed = self._then(member, plan, ride.counted_if_failed)
                if_sent = if_failed
                if ride.counted_if_sent != ride.counted_if_failed:
                    if_sent = self._then(member, plan, ride.counted_if_sent)
                record = record.also(if_sent, if_failed)
            claimed, then, composed = ahead.take(send.key), None, None
            if isinstance(send.what, IncidentEmail):
                then, composed = ahead.after(send.key), ahead.composed(send.key)
            deliveries.append(self.outbound.send(send, record, now, claimed, then, composed))
        written = ride is not None and deliveries[-1].result in WRITTEN
        return self.settled(member, plan, deliveries, now, written)

    def send(self, send: Send, now: datetime, *also: Command) -> Delivery:
        """One send whose final outcome also writes `also` (a chat line's cursor)."""
        return self.outbound.send(send, send.record.also(also, also), now)

    def settled(
        self,
        member: str,
        plan: Plan,
        deliveries: list[Delivery],
        now: datetime,
        written: bool = False,
    ) -> Fired:
        """The timer's change after the sends; `written`: the last send's outcome wrote it."""
        found = settle(plan, deliveries, now)
        if written:
            return Fired(found.result, found.said)
        writes = Writes()
        self._extras(writes, plan, found.counted)
        change = found.change
        if isinstance(change, BackOff):
            self.write(writes)
            wait_s = timers.retry_later(
                self.redis, member, now.timestamp(), self.retry_backoff_s, change.at_least_s
            )
            return Fired("retry", f"{found.said}; again in {wait_s:g} s")
        self._change(writes, member, change, plan)
        self.write(writes)
        return Fired(found.result, found.said)

    def _then(self, member: str, plan: Plan, with_counted: bool) -> tuple[Command, ...]:
        """What the plan's `then` writes, with the metrics or without."""
        writes = Writes()
        self._extras(writes, plan, with_counted)
        self._change(writes, member, plan.then, plan)
        return tuple(writes.commands)

    @staticmethod
    def _extras(pipe: Pipe, plan: Plan, with_counted: bool) -> None:
        """What goes with any change: a later push timer (before the step is released:
        a crash fires it again), the step's metrics."""
        if plan.later is not None:
            timers.schedule_in(pipe, plan.later.timer, plan.later.due_ts)
        if with_counted:
            for metric in plan.counted:
                metrics.write(pipe, metric)

    @staticmethod
    def _change(pipe: Pipe, member: str, change: Release | Leave | Reschedule, plan: Plan) -> None:
        if isinstance(change, Release):
            timers.release_on(pipe, member)
            if plan.discard is not None:
                outbox.discard(pipe, plan.discard)
        elif isinstance(change, Reschedule):
            timers.reschedule_on(pipe, member, change.due_ts)

    def write(self, writes: Writes) -> None:
        """Writes that need no marker, as one MULTI (nothing when there are none)."""
        if not writes.commands:
            return
        with self.redis.pipeline() as pipe:  # MULTI: the timer is in one of its sets
            writes.apply(pipe)
            pipe.execute()
