"""One interface, several ways to send: the worker never knows which one it has.

A backend raises `DeliveryFailed` with `permanent=True` for a message that will never go
(a refused address): the failure is recorded and escalation goes on. Anything else it
raises is treated as transient and retried.
"""

from __future__ import annotations

import os
import smtplib
import sys
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, TextIO

from router.settings import Settings


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class EmailBackend(Protocol):
    name: str

    def send(self, message: EmailMessage, file_stem: str) -> None: ...


class OutboxBackend:
    """One .eml file per message; the name comes from the idempotency key, so a message
    written twice is still one file."""

    name = "outbox"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, file_stem: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(bytes(message))
        os.replace(temporary, self.directory / f"{file_stem}.eml")


class ConsoleBackend:
    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def send(self, message: EmailMessage, file_stem: str) -> None:
        self.stream.write(f"--- email {file_stem} ---\n{message.as_string()}\n")
        self.stream.flush()


class SmtpBackend:
    name = "smtp"

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s

    def send(self, message: EmailMessage, file_stem: str) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as client:
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryFailed(
                f"recipients refused: {error.recipients}", permanent=True
            ) from None


def backend_from(settings: Settings) -> EmailBackend:
    if settings.email_backend == "console":
        return ConsoleBackend()
    if settings.email_backend == "smtp":
        return SmtpBackend(settings.smtp_host, settings.smtp_port, settings.smtp_timeout_s)
    return OutboxBackend(settings.outbox_dir)
