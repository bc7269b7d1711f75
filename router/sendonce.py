"""The marker that makes every send happen once: email, push, chat, webhook.

`ar:sent:{key}` is "sending" (with a lease) while a worker sends, then "sent" or "failed"
for good. A worker that finds "sending" leaves the send to the lease holder; if that
worker died, the lease runs out and the next attempt sends. One call of a sender is one
attempt: a transient failure deletes the marker and comes back as "retry", and the
caller's timer tries again after a back-off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import redis

from router import keys

log = logging.getLogger(__name__)

Result = Literal["sent", "already sent", "busy", "failed", "retry"]
KEEP_S = 30 * 86400

Counted = Callable[[Any], None]
"""Metrics written on the marker's own pipeline (router.metrics.count)."""


def _nothing(pipe: Any) -> None:
    pass


Recorded = Callable[[Any, "Delivery"], None]
"""What the caller writes with a send's final outcome, in the marker's own MULTI (the
incident's timeline line): the marker and its record are never one without the other."""


def together(counted: Counted, recorded: Recorded | None, delivery: Delivery) -> Counted:
    if recorded is None:
        return counted

    def both(pipe: Any) -> None:
        counted(pipe)
        recorded(pipe, delivery)

    return both


class DeliveryFailed(Exception):
    """What a backend (email or channel) raises: `permanent` is never retried."""

    def __init__(self, message: str, *, permanent: bool, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Delivery:
    result: Result
    detail: str = ""
    retry_after_s: float = 0.0  # what the service asked for (SendGrid's 429)


class SendOnce:
    def __init__(self, client: redis.Redis, lease_s: float) -> None:
        self.redis, self.lease_ms = client, int(lease_s * 1000)

    def claim(self, key: str) -> Delivery | None:
        """None: this attempt may send. Otherwise what another attempt left."""
        marker = keys.sent(key)
        if self.redis.set(marker, "sending", nx=True, px=self.lease_ms):
            return None
        state = self.redis.get(marker)
        return Delivery("already sent") if state in (b"sent", b"failed") else Delivery("busy")

    def again(self, key: str, counted: Counted = _nothing) -> None:
        """A transient failure: the next attempt sends."""
        with self.redis.pipeline() as pipe:
            pipe.delete(keys.sent(key))
            counted(pipe)
            pipe.execute()

    def failed(self, key: str, counted: Counted = _nothing) -> None:
        with self.redis.pipeline() as pipe:
            pipe.set(keys.sent(key), "failed", ex=KEEP_S)
            counted(pipe)
            pipe.execute()

    def sent(self, key: str, counted: Counted = _nothing) -> None:
        """The message is out: if Redis is away right now, keep trying for half the lease
        (while the `sending` marker still holds off everyone else), so that a short outage
        does not make the timer send it again. Past that the error propagates and the
        message may go twice: at least once, never silent."""
        deadline = time.monotonic() + self.lease_ms / 2000
        pause_s = 0.1
        while True:
            try:
                with self.redis.pipeline() as pipe:  # the marker and its count together
                    pipe.set(keys.sent(key), "sent", ex=KEEP_S)
                    counted(pipe)
                    pipe.execute()
                return
            except redis.RedisError as error:
                if time.monotonic() + pause_s > deadline:
                    raise
                log.warning("sent, but Redis is away (%s): marking it again", error)
                time.sleep(pause_s)
                pause_s = min(2.0, pause_s * 2)
