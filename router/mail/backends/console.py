"""Prints each message: for trying the router out."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from router.mail.message import OutgoingMessage


class ConsoleBackend:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, message: OutgoingMessage, sender: str, sent_at: datetime) -> None:
        email = message.to_email(sender, sent_at)
        self.stream.write(f"--- email {message.idempotency_key} ---\n{email.as_string()}\n")
        self.stream.flush()
