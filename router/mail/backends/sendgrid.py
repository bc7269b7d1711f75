"""SendGrid's v3 mail API through the `sendgrid` package.

429 waits until `X-RateLimit-Reset` (capped); 5xx and network errors back off
exponentially; both are retried up to `max_attempts`, then left to the task's retry.
400/401/403/413 and other 4xx are not retried: the failure is permanent and recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from router.mail.backends.base import DeliveryFailed
from router.mail.message import OutgoingMessage

log = logging.getLogger(__name__)
GLOBAL_HOST = "https://api.sendgrid.com"


class SendGridBackend:
    name = "sendgrid"

    def __init__(
        self,
        api_key: str,
        *,
        host: str = GLOBAL_HOST,
        timeout_s: float = 10.0,
        sandbox: bool = False,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = SendGridAPIClient(api_key=api_key, host=host)
        self.api.client.timeout = timeout_s
        self.sandbox, self.max_attempts = sandbox, max_attempts
        self.backoff_s, self.max_wait_s, self.sleep = backoff_s, max_wait_s, sleep

    def body(self, message: OutgoingMessage, sender: str) -> dict[str, Any]:
        custom_args = {"idempotency_key": message.idempotency_key, "kind": message.kind}
        body: dict[str, Any] = {
            "personalizations": [{"to": [{"email": address} for address in message.to]}],
            "from": {"email": sender},
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text},
                {"type": "text/html", "value": message.html},
            ],
            "categories": ["alert-router", message.kind],
            "custom_args": custom_args,
            "mail_settings": {"sandbox_mode": {"enable": self.sandbox}},
        }
        if message.thread_headers():
            body["headers"] = message.thread_headers()
        return body

    def send(self, message: OutgoingMessage, sender: str, sent_at: datetime) -> None:
        body = self.body(message, sender)
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.api.send(body)
                return
            except HTTPError as error:
                status = int(error.status_code)
                said = _excerpt(error.body)
                if status != 429 and status < 500:
                    raise DeliveryFailed(f"SendGrid {status}: {said}", permanent=True) from None
                wait_s = self._wait_for(error, attempt) if status == 429 else self._backoff(attempt)
                problem = f"SendGrid {status}: {said}"
            except OSError as error:  # refused, reset, DNS, timeout (URLError is an OSError)
                wait_s, problem = self._backoff(attempt), f"network: {error}"
            if attempt == self.max_attempts:
                raise DeliveryFailed(f"{problem} after {attempt} attempts", permanent=False)
            log.warning(
                "sendgrid attempt %d failed (%s); retrying in %.1fs", attempt, problem, wait_s
            )
            self.sleep(wait_s)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait_s, self.backoff_s * 2 ** (attempt - 1)))

    def _wait_for(self, error: HTTPError, attempt: int) -> float:
        reset = str((error.headers or {}).get("X-RateLimit-Reset", ""))
        try:
            # The header is an epoch second of SendGrid's clock: compared with the real one.
            return float(min(self.max_wait_s, max(0.0, float(reset) - time.time())))
        except ValueError:
            return self._backoff(attempt)


def _excerpt(body: object) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text[:300]
