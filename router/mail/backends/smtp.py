"""stdlib smtplib: plain, STARTTLS or implicit TLS, with optional login.

One connection is kept open and reused: a fresh one per message cost more than the
message (handshake, TLS, login). A reused connection the server has closed meanwhile is
replaced once, at once; any other failure closes it, so the next send starts clean.

The send's fence (router.sendonce) is checked between the message's last line and the
"." that ends it: a worker that lost its lease hangs up there, and the server discards
a message whose DATA never ended (RFC 5321, 4.1.1.4)."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
import weakref
from datetime import datetime
from email.message import EmailMessage
from typing import Literal

from typing_extensions import Buffer

from router.mail.backends.base import DeliveryFailed
from router.mail.message import OutgoingMessage
from router.sendonce import Fence, LeaseLost, unfenced

Security = Literal["none", "starttls", "ssl"]
_LEADING_DOT = re.compile(rb"(?m)^\.")


class _Fenced(smtplib.SMTP):
    """smtplib's DATA with the fence before its final "."."""

    fence: Fence = staticmethod(unfenced)

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", msg.encode("ascii") if isinstance(msg, str) else bytes(msg))
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        try:
            self.fence(self.timeout)
        except LeaseLost:
            self.close()  # no "." ever: the server drops the message
            raise
        self.send(b".\r\n")
        return self.getreply()


class _FencedSMTP(_Fenced):
    pass


class _FencedSSL(_Fenced, smtplib.SMTP_SSL):
    pass


class _Connection:
    """The open connection, if any. Held apart from the backend so that a backend
    dropped without `close()` still closes its socket (weakref.finalize)."""

    def __init__(self) -> None:
        self.client: _Fenced | None = None

    def close(self, polite: bool = True) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if polite:
                client.quit()
        except (smtplib.SMTPException, OSError):
            pass
        client.close()


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
        self._connection = _Connection()
        self._lock = threading.Lock()  # one conversation at a time on the connection
        weakref.finalize(self, self._connection.close, False)

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _connect(self) -> _Fenced:
        client: _Fenced
        if self.security == "ssl":
            client = _FencedSSL(self.host, self.port, timeout=self.timeout_s, context=self.tls)
        else:
            client = _FencedSMTP(self.host, self.port, timeout=self.timeout_s)
        # The final "." goes in a write of its own after the fence: without this, Nagle's
        # algorithm holds it for the server's delayed ACK (40 ms a message).
        if client.sock is not None:
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.security == "starttls":
            client.starttls(context=self.tls)
        if self.username:
            client.login(self.username, self.password)
        return client

    def _send_on_connection(self, email: EmailMessage, fence: Fence) -> None:
        held = self._connection
        reused = held.client is not None
        if held.client is None:
            held.client = self._connect()
        try:
            held.client.fence = fence
            held.client.send_message(email)
        except smtplib.SMTPServerDisconnected:
            held.close(polite=False)
            if not reused:
                raise
            held.client = self._connect()  # it was closed while idle: once more, fresh
            held.client.fence = fence
            held.client.send_message(email)

    def send(
        self, message: OutgoingMessage, sender: str, sent_at: datetime, fence: Fence = unfenced
    ) -> None:
        email = message.to_email(sender, sent_at)
        try:
            with self._lock:
                try:
                    self._send_on_connection(email, fence)
                except BaseException:
                    self._connection.close()  # unknown state: the next send starts clean
                    raise
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
