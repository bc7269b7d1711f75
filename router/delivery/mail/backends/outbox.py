"""One .eml file per message, for local use and tests.

The file is named after the idempotency key and written by rename, so a message written
twice is still one whole file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from router.core.message import OutgoingMessage
from router.state.sendonce import Fence, unfenced


class OutboxBackend:
    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(
        self,
        message: OutgoingMessage,
        sender: str,
        sent_at: datetime,
        fence: Fence = unfenced,
        then: Sequence[str] = (),
    ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(message.to_bytes(sender, sent_at))
            fence(1.0)  # the rename is the commit
            os.replace(temporary, self.directory / f"{message.file_stem()}.eml")
        except BaseException:  # a full disk, a lost lease: no temp file is left behind
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
