"""Prints each message: for trying the router out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from router.core.message import OutgoingMessage
from router.state.sendonce import Fence, unfenced


class ConsoleBackend:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(
        self,
        message: OutgoingMessage,
        sender: str,
        sent_at: datetime,
        fence: Fence = unfenced,
        then: Sequence[str] = (),
    ) -> None:
        # 7bit, as EmailMessage.as_string wrote it: a part that would be 8bit is base64
        text = message.to_bytes(sender, sent_at, seven_bit=True).decode("ascii")
        fence(1.0)
        self.stream.write(f"--- email {message.idempotency_key} ---\n{text}\n")
        self.stream.flush()
