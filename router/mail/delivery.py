"""Send each email once, under its idempotency key's marker (router.sendonce).

One call is one attempt: a transient failure comes back as "retry" and the caller's
timer tries again after a back-off, so no task outlives the lease (settings check the
lease is longer than one attempt can take).
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis

from router import metrics
from router.mail.backends import DeliveryFailed, EmailBackend
from router.mail.message import OutgoingMessage
from router.sendonce import Delivery, Recorded, SendOnce, together

log = logging.getLogger(__name__)


class Mailer:
    def __init__(
        self, client: redis.Redis, backend: EmailBackend, sender: str, lease_s: float
    ) -> None:
        self.redis, self.backend, self.sender = client, backend, sender
        self.once = SendOnce(client, lease_s)

    def deliver(
        self, message: OutgoingMessage, now: datetime, recorded: Recorded | None = None
    ) -> Delivery:
        """One attempt. "failed" is permanent; `recorded` writes a sent or failed outcome
        with its marker. Redis errors propagate (the task is redelivered)."""
        key = message.idempotency_key
        found = self.once.claim(key)
        if found is not None:
            return found
        labels = {"kind": message.kind, "backend": self.backend.name}
        try:
            self.backend.send(message, self.sender, now)
        except DeliveryFailed as error:
            if error.permanent:
                failed = Delivery("failed", str(error))
                counted = metrics.counting("router_messages_failed", labels)
                self.once.failed(key, together(counted, recorded, failed))
                log.warning("email %s to %s failed for good: %s", message.kind, message.to, error)
                return failed
            self.once.again(key, metrics.counting("router_message_retries", labels))
            log.warning("email %s to %s: %s; will retry", message.kind, message.to, error)
            return Delivery("retry", str(error), error.retry_after_s)
        except Exception as error:  # the backend's own network errors: transient
            self.once.again(key, metrics.counting("router_message_retries", labels))
            log.warning("email %s to %s: %r; will retry", message.kind, message.to, error)
            return Delivery("retry", repr(error))
        sent = Delivery("sent")
        self.once.sent(
            key, together(metrics.counting("router_messages_sent", labels), recorded, sent)
        )
        return sent
