"""One .eml file per message, for local use and tests.

The file is named after the idempotency key and written by rename, so a message written
twice is still one whole file.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from router.mail.message import OutgoingMessage


class OutboxBackend:
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: OutgoingMessage, sender: str, sent_at: datetime) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(bytes(message.to_email(sender, sent_at)))
        os.replace(temporary, self.directory / f"{message.file_stem()}.eml")
