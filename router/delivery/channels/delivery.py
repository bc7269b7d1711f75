"""Push and chat notices as a channel of the one send-once flow (router.state.sendonce), giving
up after a number of transient failures: a push target that is down for good is
recorded as failed instead of retried for ever. The email and the escalation never wait
on it: they are sent and scheduled on their own markers and timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from router.config.contact_methods import masked
from router.delivery.channels.base import ChannelBackend, Notice
from router.state import keys
from router.state.replication import NO_REPLICAS, Replicas
from router.state.sendonce import Delivery, DeliveryFailed, Failure, Fence, SendOnce

_ATTEMPTS_KEEP_S = 86400


@dataclass(frozen=True)
class Addressed:
    """A notice and the URL it goes to."""

    url: str
    notice: Notice

    @property
    def idempotency_key(self) -> str:
        return self.notice.idempotency_key

    @property
    def kind(self) -> str:
        return self.notice.kind

    def repeated(self) -> Addressed:
        """A push or chat line has no header a person sees: its title says so."""
        title = f"(possible repeat) {self.notice.title}"
        return Addressed(self.url, self.notice.model_copy(update={"title": title}))


class Notifier:
    """Sent and failed notices count in router_messages_* by kind and backend."""

    counted = True

    def __init__(
        self,
        client: redis.Redis,
        backend: ChannelBackend,
        lease_s: float,
        max_attempts: int,
        replicas: Replicas = NO_REPLICAS,
    ) -> None:
        self.redis, self.backend, self.max_attempts = client, backend, max_attempts
        self.name = backend.name
        self.once = SendOnce(client, lease_s, replicas)

    def held(self, payload: Addressed, now: datetime) -> Delivery | None:
        return None

    def send(self, payload: Addressed, now: datetime, fence: Fence) -> str:
        self.backend.send(payload.url, payload.notice, fence=fence)
        return ""

    def failure(
        self, payload: Addressed, error: Exception, now: datetime, took_s: float
    ) -> Failure:
        return given_up(self.redis, payload.idempotency_key, error, self.max_attempts)

    def worked(self) -> None:
        pass

    def describe(self, payload: Addressed) -> str:
        return f"{payload.kind} to {masked(payload.url)}"


def given_up(client: redis.Redis, key: str, error: Exception, max_attempts: int) -> Failure:
    """A refusal is for good, and so is the last of `max_attempts` transient failures of
    the send `key` (counted here)."""
    permanent = isinstance(error, DeliveryFailed) and error.permanent
    retry_after_s = error.retry_after_s if isinstance(error, DeliveryFailed) else 0.0
    if permanent:
        return Failure(str(error), retry=False)
    with client.pipeline(transaction=False) as pipe:
        pipe.incr(keys.send_attempts(key))
        pipe.expire(keys.send_attempts(key), _ATTEMPTS_KEEP_S)
        made, _ = pipe.execute()
    return Failure(str(error), retry=int(made) < max_attempts, retry_after_s=retry_after_s)
