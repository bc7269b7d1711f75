"""Send each message once: a Redis marker is written before sending.

`ar:sent:{key}` is "sending" (with a lease) while a worker sends, "sent" after. A worker
that finds "sending" leaves the message to the lease holder; if that worker died, the
lease runs out and the next attempt sends it. One call is one attempt: a transient
failure comes back as "retry" and the caller's timer tries again after a back-off, so no
task outlives the lease (settings check the lease is longer than one attempt can take).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import redis

from router import keys, metrics
from router.mail.backends import DeliveryFailed, EmailBackend
from router.mail.message import OutgoingMessage

log = logging.getLogger(__name__)

Result = Literal["sent", "already sent", "busy", "failed", "retry"]
_KEEP_S = 30 * 86400


@dataclass(frozen=True)
class Delivery:
    result: Result
    detail: str = ""
    retry_after_s: float = 0.0  # what the service asked for (SendGrid's 429)


class Mailer:
    def __init__(
        self, client: redis.Redis, backend: EmailBackend, sender: str, lease_s: float
    ) -> None:
        self.redis, self.backend, self.sender = client, backend, sender
        self.lease_ms = int(lease_s * 1000)

    def deliver(self, message: OutgoingMessage, now: datetime) -> Delivery:
        """One attempt. "failed" is permanent and recorded by the caller; Redis errors
        propagate (the task is redelivered)."""
        marker = keys.sent(message.idempotency_key)
        if not self.redis.set(marker, "sending", nx=True, px=self.lease_ms):
            state = self.redis.get(marker)
            return Delivery("already sent") if state in (b"sent", b"failed") else Delivery("busy")
        try:
            self.backend.send(message, self.sender, now)
        except DeliveryFailed as error:
            if error.permanent:
                with self.redis.pipeline() as pipe:
                    pipe.set(marker, "failed", ex=_KEEP_S)
                    metrics.count(pipe, "router_messages_failed", self._labels(message))
                    pipe.execute()
                log.warning("email %s to %s failed for good: %s", message.kind, message.to, error)
                return Delivery("failed", str(error))
            self._retry(marker, message)
            log.warning("email %s to %s: %s; will retry", message.kind, message.to, error)
            return Delivery("retry", str(error), error.retry_after_s)
        except Exception as error:  # the backend's own network errors: transient
            self._retry(marker, message)
            log.warning("email %s to %s: %r; will retry", message.kind, message.to, error)
            return Delivery("retry", repr(error))
        self._mark_sent(marker, message)
        return Delivery("sent")

    def _labels(self, message: OutgoingMessage) -> dict[str, str]:
        return {"kind": message.kind, "backend": self.backend.name}

    def _retry(self, marker: str, message: OutgoingMessage) -> None:
        with self.redis.pipeline() as pipe:
            pipe.delete(marker)
            metrics.count(pipe, "router_message_retries", self._labels(message))
            pipe.execute()

    def _mark_sent(self, marker: str, message: OutgoingMessage) -> None:
        """The message is out: if Redis is away right now, keep trying for half the lease
        (while the `sending` marker still holds off everyone else), so that a short outage
        does not make the timer send it again. Past that the error propagates and the
        message may go twice: at least once, never silent."""
        deadline = time.monotonic() + self.lease_ms / 2000
        pause_s = 0.1
        while True:
            try:
                with self.redis.pipeline() as pipe:  # the marker and its count together
                    pipe.set(marker, "sent", ex=_KEEP_S)
                    metrics.count(pipe, "router_messages_sent", self._labels(message))
                    pipe.execute()
                return
            except redis.RedisError as error:
                if time.monotonic() + pause_s > deadline:
                    raise
                log.warning("sent, but Redis is away (%s): marking it again", error)
                time.sleep(pause_s)
                pause_s = min(2.0, pause_s * 2)
