"""Send each email once, under its idempotency key's marker (router.sendonce).

One call is one attempt: a transient failure comes back as "retry" and the caller's
timer tries again after a back-off, so no task outlives the lease (settings check the
lease is longer than one attempt can take). While the backend is down (an attempt
failed transiently a moment ago in this process: router.breaker), an attempt fails at
once, so a hanging mail server costs one timeout per probe, not one per message, and
the pushes and chat lines sent beside the emails still go.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import redis

from router import metrics
from router.breaker import Breaker
from router.mail.backends import DeliveryFailed, EmailBackend
from router.mail.message import OutgoingMessage
from router.sendonce import Delivery, LeaseLost, Recorded, SendOnce, together

log = logging.getLogger(__name__)


class Mailer:
    def __init__(
        self,
        client: redis.Redis,
        backend: EmailBackend,
        sender: str,
        lease_s: float,
        breaker: Breaker | None = None,
    ) -> None:
        self.redis, self.backend, self.sender = client, backend, sender
        self.once = SendOnce(client, lease_s)
        self.breaker = breaker or Breaker(backend.name)

    def deliver(
        self, message: OutgoingMessage, now: datetime, recorded: Recorded | None = None
    ) -> Delivery:
        """One attempt. "failed" is permanent; `recorded` writes a sent or failed outcome
        with its marker. Redis errors propagate (the task is redelivered)."""
        down_s = self.breaker.open_s(now)
        if down_s > 0:
            return Delivery("retry", f"{self.backend.name} is down", down_s, held=True)
        key = message.idempotency_key
        lease = self.once.claim(key)
        if isinstance(lease, Delivery):
            return lease
        labels = {"kind": message.kind, "backend": self.backend.name}
        started = time.monotonic()
        try:
            self.backend.send(message, self.sender, now, fence=lease.fence)
        except LeaseLost as error:
            log.warning("email %s to %s not sent: %s", message.kind, message.to, error)
            return Delivery("busy", str(error))
        except Exception as error:  # DeliveryFailed, or the backend's own network errors
            checked = error if isinstance(error, DeliveryFailed) else None
            if checked is not None and checked.permanent:
                failed = Delivery("failed", str(error))
                counted = metrics.counting("router_messages_failed", labels)
                self.once.failed(lease, together(counted, recorded, failed))
                log.warning("email %s to %s failed for good: %s", message.kind, message.to, error)
                return failed
            self.breaker.failed(now, time.monotonic() - started)
            self.once.again(lease, metrics.counting("router_message_retries", labels))
            said = str(error) if checked is not None else repr(error)
            log.warning("email %s to %s: %s; will retry", message.kind, message.to, said)
            return Delivery("retry", said, checked.retry_after_s if checked is not None else 0.0)
        self.breaker.closed()
        sent = Delivery("sent")
        counted = metrics.counting("router_messages_sent", labels)
        if not self.once.sent(lease, together(counted, recorded, sent)):
            return Delivery("busy", "sent, but the lease was lost meanwhile")
        return sent
