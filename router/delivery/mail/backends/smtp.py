"""stdlib smtplib: plain, STARTTLS or implicit TLS, with optional login.

One connection is kept open and reused: a fresh one per message cost more than the
message (handshake, TLS, login). A reused connection the server has closed meanwhile is
replaced once, at once; any other failure closes it, so the next send starts clean.

The send's fence (router.state.sendonce) is checked between the message's last line and the
"." that ends it: a worker that lost its lease hangs up there, and the server discards
a message whose DATA never ended (RFC 5321, 4.1.1.4).

The message goes as its bytes (OutgoingMessage.to_bytes, CRLF) with the envelope
smtplib's send_message would have taken from its headers; only an address that is not
ASCII goes through send_message itself, which asks the server for SMTPUTF8."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from typing_extensions import Buffer

from router.core.message import OutgoingMessage
from router.delivery.mail.backends.base import DeliveryFailed
from router.state.sendonce import Fence, LeaseLost, unfenced

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


@dataclass(frozen=True)
class _Outgoing:
    """One message as it goes on the connection, made before the connection is taken."""

    message: OutgoingMessage
    sender: str
    sent_at: datetime
    envelope: tuple[str, list[str]]
    raw: bytes | None
    """None: an address is not ASCII (SMTPUTF8), so smtplib writes the message."""

    @classmethod
    def of(cls, message: OutgoingMessage, sender: str, sent_at: datetime) -> _Outgoing:
        envelope = message.envelope(sender)
        international = not "".join([envelope[0], *envelope[1]]).isascii()
        raw = None if international else message.to_bytes(sender, sent_at, "\r\n")
        return cls(message, sender, sent_at, envelope, raw)

    def go(self, client: _Fenced) -> None:
        if self.raw is None:
            client.send_message(self.message.to_email(self.sender, self.sent_at))
        else:
            client.sendmail(*self.envelope, self.raw)


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

    def _send_on_connection(self, outgoing: _Outgoing, fence: Fence) -> None:
        held = self._connection
        reused = held.client is not None
        if held.client is None:
            held.client = self._connect()
        try:
            held.client.fence = fence
            outgoing.go(held.client)
        except smtplib.SMTPServerDisconnected:
            held.close(polite=False)
            if not reused:
                raise
            held.client = self._connect()  # it was closed while idle: once more, fresh
            held.client.fence = fence
            outgoing.go(held.client)

    def send(
        self, message: OutgoingMessage, sender: str, sent_at: datetime, fence: Fence = unfenced
    ) -> None:
        outgoing = _Outgoing.of(message, sender, sent_at)
        try:
            with self._lock:
                try:
                    self._send_on_connection(outgoing, fence)
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
