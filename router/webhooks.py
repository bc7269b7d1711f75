"""Runbook webhooks: the body from its template, signed, sent once.

Signature: `X-Router-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
(Stripe's scheme): a receiver recomputes it and refuses a timestamp outside its replay
window (`verify`, five minutes by default). `Idempotency-Key` is the same on every retry.
Sent once like an email (router.mail.delivery): a marker guards the one attempt a task
makes; a network error or a 5xx is retried by the timer, a 4xx is final.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from datetime import datetime
from typing import Any

import httpx
import redis
from jinja2.sandbox import SandboxedEnvironment

from router.sendonce import Delivery, LeaseLost, SendOnce

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


class WebhookCaller:
    def __init__(self, client: redis.Redis, lease_s: float, timeout_s: float = 10.0) -> None:
        self.once, self.timeout_s = SendOnce(client, lease_s), timeout_s

    def call(
        self,
        url: str,
        method: str,
        body: bytes,
        secret_env: str,
        headers: dict[str, str],
        key: str,
        now: datetime,
    ) -> Delivery:
        """One attempt; `key` is the idempotency key (and the marker's)."""
        secret = os.environ.get(secret_env, "")
        if not secret:
            return Delivery("failed", f"{secret_env} is not set: the webhook cannot be signed")
        lease = self.once.claim(key)
        if isinstance(lease, Delivery):
            return lease
        timestamp = int(now.timestamp())
        sent_headers = {
            "Content-Type": "application/json",
            **{name: expand(value) for name, value in headers.items()},
            "X-Router-Signature": signature(secret, timestamp, body),
            "Idempotency-Key": key,
        }
        try:
            lease.fence(self.timeout_s)
            answer = httpx.request(
                method, url, content=body, headers=sent_headers, timeout=self.timeout_s
            )
        except LeaseLost as error:
            return Delivery("busy", str(error))
        except httpx.HTTPError as error:
            self.once.again(lease)
            return Delivery("retry", f"{type(error).__name__}: {error}")
        said = f"HTTP {answer.status_code} from {url}"
        if answer.status_code >= 500 or answer.status_code == 429:
            self.once.again(lease)
            return Delivery("retry", said)
        if answer.is_success:
            if not self.once.sent(lease):
                return Delivery("busy", f"{said}, but the lease was lost meanwhile")
            return Delivery("sent", said)
        self.once.failed(lease)
        return Delivery("failed", said)
