"""Send each message once: a Redis marker is written before sending.

`ar:sent:{key}` is "sending" (with a lease) while a worker sends, "sent" after. A worker
that finds "sending" leaves the message to the lease holder; if that worker died, the
lease runs out and the next attempt sends it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

import redis

from router.mail.backends import DeliveryFailed, EmailBackend
from router.mail.message import OutgoingMessage

log = logging.getLogger(__name__)

Result = Literal["sent", "already sent", "busy", "failed"]
_KEEP_S = 30 * 86400


class Mailer:
    def __init__(
        self, client: redis.Redis, backend: EmailBackend, sender: str, lease_s: float
    ) -> None:
        self.redis, self.backend, self.sender = client, backend, sender
        self.lease_ms = int(lease_s * 1000)

    def deliver(self, message: OutgoingMessage, now: datetime) -> tuple[Result, str]:
        """(result, detail): "failed" is permanent and recorded by the caller."""
        marker = f"ar:sent:{message.idempotency_key}"
        if not self.redis.set(marker, "sending", nx=True, px=self.lease_ms):
            state = self.redis.get(marker)
            return ("already sent", "") if state in (b"sent", b"failed") else ("busy", "")
        try:
            self.backend.send(message, self.sender, now)
        except DeliveryFailed as error:
            if not error.permanent:
                self.redis.delete(marker)
                raise
            self.redis.set(marker, "failed", ex=_KEEP_S)
            log.warning("email %s to %s failed for good: %s", message.kind, message.to, error)
            return "failed", str(error)
        except Exception:
            self.redis.delete(marker)  # transient: let the retry send it
            raise
        self.redis.set(marker, "sent", ex=_KEEP_S)
        return "sent", ""
