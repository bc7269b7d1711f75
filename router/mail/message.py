"""A message ready to send, and its RFC 5322 form (multipart: plain text and HTML)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict, Field

from router.times import require_aware


def _message_id(seed: str) -> str:
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@alert-router>"


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    """(incident, round, step, recipient) or (notice, recipient): never sent twice."""
    kind: str
    to: list[str]
    subject: str
    text: str
    html: str
    thread: str | None = None
    """Messages about one incident share a thread: the same In-Reply-To and References."""
    images: dict[str, str] = Field(default_factory=dict)
    """Inline PNG images of the HTML part: content id -> base64 (`<img src="cid:ID">`)."""

    def file_stem(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    def thread_headers(self) -> dict[str, str]:
        if not self.thread:
            return {}
        root = _message_id(f"thread:{self.thread}")
        return {"In-Reply-To": root, "References": root}

    def to_email(self, sender: str, sent_at: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        message["Date"] = format_datetime(require_aware(sent_at))
        message["Message-ID"] = _message_id(self.idempotency_key)
        for name, value in self.thread_headers().items():
            message[name] = value
        message["X-Alert-Router-Kind"] = self.kind
        message["X-Alert-Router-Idempotency-Key"] = self.idempotency_key
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        html_part = message.get_body(("html",))
        for content_id, data in self.images.items():
            assert html_part is not None
            html_part.add_related(
                base64.b64decode(data), maintype="image", subtype="png", cid=f"<{content_id}>"
            )
        return message
