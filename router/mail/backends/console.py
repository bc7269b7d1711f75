"""Prints each message: for trying the router out."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from router.mail.message import OutgoingMessage
from router.sendonce import Fence, unfenced


class ConsoleBackend:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(
        self, message: OutgoingMessage, sender: str, sent_at: datetime, fence: Fence = unfenced
    ) -> None:
        email = message.to_email(sender, sent_at)
        fence(1.0)
        self.stream.write(f"--- email {message.idempotency_key} ---\n{email.as_string()}\n")
        self.stream.flush()
