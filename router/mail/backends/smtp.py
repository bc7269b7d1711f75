"""stdlib smtplib: plain, STARTTLS or implicit TLS, with optional login."""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from typing import Literal

from router.mail.backends.base import DeliveryFailed
from router.mail.message import OutgoingMessage

Security = Literal["none", "starttls", "ssl"]


class SmtpBackend:
    name = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: Security = "none",
        username: str = "",
        password: str = "",
        timeout_s: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout_s = username, password, timeout_s
        self.tls = tls or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self.tls)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            client.starttls(context=self.tls)
        return client

    def send(self, message: OutgoingMessage, sender: str, sent_at: datetime) -> None:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password)
                client.send_message(message.to_email(sender, sent_at))
        except smtplib.SMTPRecipientsRefused as error:
            raise DeliveryFailed(
                f"recipients refused: {error.recipients}", permanent=True
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryFailed(f"SMTP login refused: {error.smtp_code}", permanent=True) from None
        except smtplib.SMTPResponseException as error:
            # 5xx is the server's final word on this message; 4xx is worth another try.
            if 500 <= error.smtp_code < 600:
                raise DeliveryFailed(
                    f"SMTP {error.smtp_code}: {error.smtp_error!r}", permanent=True
                ) from None
            raise
