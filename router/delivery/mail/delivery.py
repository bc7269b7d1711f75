"""Email as a channel of the one send-once flow (router.state.sendonce.Deliveries).

One call is one attempt: a transient failure comes back as "retry" and the caller's
timer tries again after a back-off, so no task outlives the lease (settings check the
lease is longer than one attempt can take). While the backend is down (an attempt
failed transiently a moment ago in this process: router.delivery.breaker), an attempt fails at
once, so a hanging mail server costs one timeout per probe, not one per message, and
the pushes and chat lines sent beside the emails still go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis

from router.core.message import OutgoingMessage
from router.delivery.breaker import Breaker
from router.delivery.mail.backends import DeliveryFailed, EmailBackend
from router.state.replication import NO_REPLICAS, Replicas
from router.state.sendonce import Delivery, Failure, Fence, SendOnce


@dataclass(frozen=True)
class Mail:
    """An email as the mailer sends it. `then`: the To of the email the same fire task
    sends next, if one is to go: a backend that can (SMTP with PIPELINING) starts that
    one's conversation in the write that ends this one."""

    message: OutgoingMessage
    then: Sequence[str] = ()

    @property
    def idempotency_key(self) -> str:
        return self.message.idempotency_key

    @property
    def kind(self) -> str:
        return self.message.kind

    def repeated(self) -> Mail:
        """Marked by a header; its Message-ID is the one it had (mail systems drop a
        message whose Message-ID they hold already)."""
        return Mail(self.message.model_copy(update={"possible_repeat": True}), self.then)


class Mailer:
    """Sent and failed emails count in router_messages_* by kind and backend."""

    counted = True

    def __init__(
        self,
        client: redis.Redis,
        backend: EmailBackend,
        sender: str,
        lease_s: float,
        breaker: Breaker | None = None,
        replicas: Replicas = NO_REPLICAS,
    ) -> None:
        self.backend, self.sender, self.name = backend, sender, backend.name
        self.once = SendOnce(client, lease_s, replicas)
        self.breaker = breaker or Breaker(backend.name)

    def down(self, now: datetime) -> bool:
        """The backend is known to be down: nothing is tried, so nothing is claimed."""
        return self.breaker.open_s(now) > 0

    def held(self, payload: Mail, now: datetime) -> Delivery | None:
        down_s = self.breaker.open_s(now)
        if down_s > 0:
            return Delivery("retry", f"{self.backend.name} is down", down_s, held=True)
        return None

    def send(self, payload: Mail, now: datetime, fence: Fence) -> str:
        self.backend.send(payload.message, self.sender, now, fence=fence, then=payload.then)
        return ""

    def failure(self, payload: Mail, error: Exception, now: datetime, took_s: float) -> Failure:
        """A refusal is for good; anything else (the backend's own network errors too)
        opens the breaker."""
        checked = error if isinstance(error, DeliveryFailed) else None
        if checked is not None and checked.permanent:
            return Failure(str(error), retry=False)
        self.breaker.failed(now, took_s)
        if checked is None:
            return Failure(repr(error), retry=True)
        return Failure(str(error), retry=True, retry_after_s=checked.retry_after_s)

    def worked(self) -> None:
        self.breaker.closed()

    def describe(self, payload: Mail) -> str:
        return f"email {payload.kind} to {payload.message.to}"
