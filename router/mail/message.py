"""A message ready to send, and its RFC 5322 form."""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from pydantic import BaseModel, ConfigDict

from router.times import require_aware


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    """(incident, round, step, recipient) or (notice, recipient): never sent twice."""
    kind: str
    to: list[str]
    subject: str
    text: str
    thread: str | None = None
    """Messages about one incident share a thread: same References header."""

    def file_stem(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    def to_email(self, sender: str, sent_at: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        message["Message-ID"] = f"<{self.file_stem()}@alert-router>"
        message["Date"] = format_datetime(require_aware(sent_at))
        if self.thread:
            root = f"<{hashlib.sha256(self.thread.encode()).hexdigest()[:32]}@alert-router>"
            message["In-Reply-To"] = root
            message["References"] = root
        message["X-Alert-Router-Kind"] = self.kind
        message["X-Alert-Router-Idempotency-Key"] = self.idempotency_key
        message.set_content(self.text)
        return message
