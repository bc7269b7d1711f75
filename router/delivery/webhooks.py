"""Runbook webhooks: the body from its template, signed, sent once.

Signature: `X-Router-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
(Stripe's scheme): a receiver recomputes it and refuses a timestamp outside its replay
window (`verify`, five minutes by default). `Idempotency-Key` is the same on every retry.
Sent once like an email, as a channel of router.state.sendonce's one flow: a marker guards the
one attempt a task makes; a network error or a 5xx is retried by the timer, a 4xx is
final.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import redis
from jinja2.sandbox import SandboxedEnvironment

from router.state.replication import NO_REPLICAS, Replicas
from router.state.sendonce import Delivery, DeliveryFailed, Failure, Fence, SendOnce

REPLAY_WINDOW_S = 300
_templates = SandboxedEnvironment(autoescape=False)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now_ts: float, window_s: int = REPLAY_WINDOW_S
) -> bool:
    """What a receiver does: the signature matches and its timestamp is recent."""
    try:
        parts = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now_ts - timestamp) > window_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


_ENV = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def expand(value: str) -> str:
    """`${NAME}` in a header value from the environment: credentials stay out of the rules."""
    return _ENV.sub(lambda found: os.environ.get(found.group(1), ""), value)


def render_body(template: str, context: dict[str, Any]) -> bytes:
    return _templates.from_string(template).render(**context).encode()


@dataclass(frozen=True)
class WebhookRequest:
    """One call of a runbook's webhook: `idempotency_key` is its marker's and is sent as
    `Idempotency-Key`; `secret_env` names the variable holding the signing secret."""

    url: str
    method: str
    body: bytes
    secret_env: str
    headers: tuple[tuple[str, str], ...]
    idempotency_key: str
    kind: str = "webhook"

    def repeated(self) -> WebhookRequest:
        """Its `Idempotency-Key` is the one it had; a header says it may be a repeat."""
        marked = (*self.headers, ("X-Alert-Router-Possible-Repeat", "yes"))
        return dataclasses.replace(self, headers=marked)


class WebhookCaller:
    """Webhooks are not counted in router_messages_*: the timeline says what they did."""

    counted = False
    name = "webhook"

    def __init__(
        self,
        client: redis.Redis,
        lease_s: float,
        timeout_s: float = 10.0,
        replicas: Replicas = NO_REPLICAS,
    ) -> None:
        self.once, self.timeout_s = SendOnce(client, lease_s, replicas), timeout_s

    def held(self, payload: WebhookRequest, now: datetime) -> Delivery | None:
        if not os.environ.get(payload.secret_env, ""):
            said = f"{payload.secret_env} is not set: the webhook cannot be signed"
            return Delivery("failed", said)
        return None

    def send(self, payload: WebhookRequest, now: datetime, fence: Fence) -> str:
        """A 2xx is sent; a 5xx or 429 is retried, any other answer is final."""
        secret = os.environ.get(payload.secret_env, "")
        timestamp = int(now.timestamp())
        sent_headers = {
            "Content-Type": "application/json",
            **{name: expand(value) for name, value in payload.headers},
            "X-Router-Signature": signature(secret, timestamp, payload.body),
            "Idempotency-Key": payload.idempotency_key,
        }
        fence(self.timeout_s)
        answer = httpx.request(
            payload.method,
            payload.url,
            content=payload.body,
            headers=sent_headers,
            timeout=self.timeout_s,
        )
        said = f"HTTP {answer.status_code} from {payload.url}"
        if answer.status_code >= 500 or answer.status_code == 429:
            raise DeliveryFailed(said, permanent=False)
        if not answer.is_success:
            raise DeliveryFailed(said, permanent=True)
        return said

    def failure(
        self, payload: WebhookRequest, error: Exception, now: datetime, took_s: float
    ) -> Failure:
        """A network error is retried; anything but that and an answer is a bug: raised."""
        if isinstance(error, DeliveryFailed):
            return Failure(str(error), retry=not error.permanent)
        if isinstance(error, httpx.HTTPError):
            return Failure(f"{type(error).__name__}: {error}", retry=True)
        raise error

    def worked(self) -> None:
        pass

    def describe(self, payload: WebhookRequest) -> str:
        return f"webhook {payload.method} {payload.url}"
