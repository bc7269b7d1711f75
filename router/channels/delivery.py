"""Send each notice once to one URL, like email (router.sendonce), giving up after a
number of transient failures: a push target that is down for good is recorded as failed
instead of retried for ever. The email and the escalation never wait on it: they are
sent and scheduled on their own markers and timers."""

from __future__ import annotations

import logging

import redis

from router import keys, metrics
from router.channels.base import ChannelBackend, Notice
from router.rules.contact_methods import masked
from router.sendonce import Delivery, DeliveryFailed, LeaseLost, Recorded, SendOnce, together

log = logging.getLogger(__name__)
_ATTEMPTS_KEEP_S = 86400


class Notifier:
    def __init__(
        self, client: redis.Redis, backend: ChannelBackend, lease_s: float, max_attempts: int
    ) -> None:
        self.redis, self.backend, self.max_attempts = client, backend, max_attempts
        self.once = SendOnce(client, lease_s)

    def deliver(self, url: str, notice: Notice, recorded: Recorded | None = None) -> Delivery:
        """One attempt; `recorded` writes a sent or failed outcome with its marker. Redis
        errors propagate (the task is redelivered)."""
        key = notice.idempotency_key
        lease = self.once.claim(key)
        if isinstance(lease, Delivery):
            return lease
        labels = {"kind": notice.kind, "backend": self.backend.name}
        try:
            self.backend.send(url, notice, fence=lease.fence)
        except LeaseLost as error:
            log.warning("%s to %s not sent: %s", notice.kind, masked(url), error)
            return Delivery("busy", str(error))
        except Exception as error:  # DeliveryFailed, or the backend's own: transient
            permanent = isinstance(error, DeliveryFailed) and error.permanent
            if not permanent and self._attempts(key) < self.max_attempts:
                self.once.again(lease, metrics.counting("router_message_retries", labels))
                log.warning("%s to %s: %s; will retry", notice.kind, masked(url), error)
                return Delivery("retry", str(error))
            failed = Delivery("failed", str(error))
            counted = metrics.counting("router_messages_failed", labels)
            self.once.failed(lease, together(counted, recorded, failed))
            log.warning("%s to %s failed for good: %s", notice.kind, masked(url), error)
            return failed
        sent = Delivery("sent")
        counted = metrics.counting("router_messages_sent", labels)
        if not self.once.sent(lease, together(counted, recorded, sent)):
            return Delivery("busy", "sent, but the lease was lost meanwhile")
        return sent

    def _attempts(self, key: str) -> int:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(keys.send_attempts(key))
            pipe.expire(keys.send_attempts(key), _ATTEMPTS_KEEP_S)
            made, _ = pipe.execute()
        return int(made)
