"""SendGrid's v3 mail API through the `sendgrid` package.

One request per call. 429 (with `X-RateLimit-Reset`), 5xx and network errors are
transient: the caller's timer tries again after a back-off, at least until the reset.
400/401/403/413 and other 4xx are not retried: the failure is permanent and recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from router.core.message import OutgoingMessage
from router.delivery.mail.backends.base import DeliveryFailed
from router.state.sendonce import Fence, unfenced

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
        max_wait_s: float = 300.0,
    ) -> None:
        self.api = SendGridAPIClient(api_key=api_key, host=host)
        self.api.client.timeout = timeout_s
        self.sandbox, self.max_wait_s, self.timeout_s = sandbox, max_wait_s, timeout_s

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
        if message.images:
            body["attachments"] = [
                {
                    "content": data,
                    "type": "image/png",
                    "filename": f"{content_id}.png",
                    "disposition": "inline",
                    "content_id": content_id,
                }
                for content_id, data in message.images.items()
            ]
        return body

    def send(
        self,
        message: OutgoingMessage,
        sender: str,
        sent_at: datetime,
        fence: Fence = unfenced,
        then: Sequence[str] = (),
    ) -> None:
        body = self.body(message, sender)
        fence(self.timeout_s)
        try:
            self.api.send(body)
        except HTTPError as error:
            status = int(error.status_code)
            said = f"SendGrid {status}: {_excerpt(error.body)}"
            if status != 429 and status < 500:
                raise DeliveryFailed(said, permanent=True) from None
            wait_s = self._reset_wait(error) if status == 429 else 0.0
            raise DeliveryFailed(said, permanent=False, retry_after_s=wait_s) from None
        except OSError as error:  # refused, reset, DNS, timeout (URLError is an OSError)
            raise DeliveryFailed(f"network: {error}", permanent=False) from None

    def _reset_wait(self, error: HTTPError) -> float:
        reset = str((error.headers or {}).get("X-RateLimit-Reset", ""))
        try:
            # The header is an epoch second of SendGrid's clock: compared with the real one.
            return float(min(self.max_wait_s, max(0.0, float(reset) - time.time())))
        except ValueError:
            return 0.0


def _excerpt(body: object) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text[:300]
