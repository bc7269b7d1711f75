"""stdlib smtplib: plain, STARTTLS or implicit TLS, with optional login.

One connection is kept open and reused: a fresh one per message cost more than the
message (handshake, TLS, login). A reused connection the server has closed meanwhile is
replaced once, at once; any other failure closes it, so the next send starts clean.

The send's fence (router.state.sendonce) is checked after the server's 354 and before
the message and the "." that ends it: a worker that lost its lease hangs up there, and
the server discards a message whose DATA never ended (RFC 5321, 4.1.1.4). With
PIPELINING its round trip to Redis comes before the conversation, and the check before
the "." is then the local clock's alone.

The message goes as its bytes (OutgoingMessage.to_bytes, CRLF) with the envelope
smtplib's send_message would have taken from its headers; only an address that is not
ASCII goes through send_message itself, which asks the server for SMTPUTF8."""

from __future__ import annotations

import contextlib
import functools
import re
import smtplib
import socket
import ssl
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from typing_extensions import Buffer

if TYPE_CHECKING:
    from _typeshed import SizedBuffer

from router.core.message import OutgoingMessage, envelope_of
from router.delivery.mail.backends.base import DeliveryFailed
from router.state.sendonce import Fence, LeaseLost, unfenced

Security = Literal["none", "starttls", "ssl"]
_quoted = functools.lru_cache(maxsize=4096)(smtplib.quoteaddr)  # it parses the address
_LEADING_DOT = re.compile(rb"(?m)^\.")


Envelope = tuple[str, tuple[str, ...]]
"""(MAIL FROM, RCPT TO) of a message."""


class _Fenced(smtplib.SMTP):
    """smtplib's DATA with the fence before its final ".", and MAIL, RCPT and DATA in one
    write where the server offers PIPELINING (RFC 2920): two round trips a message, not
    four. Given the envelope of the message that comes next (`then`), its MAIL, RCPT and
    DATA go in the write of this one's "." (RFC 2920 lets the message's content open a
    group), so a run of messages takes one round trip each; `ahead` is that envelope,
    whose replies are read when its message is sent."""

    fence: Fence = staticmethod(unfenced)
    ahead: Envelope | None = None

    def data(self, msg: Buffer | str) -> tuple[int, bytes]:
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        return self._content(msg)

    def _content(self, msg: Buffer | str, then: Envelope | None = None) -> tuple[int, bytes]:
        """After the server's 354: the fence, then the message and the "." that commits
        it, in one write, with the next message's MAIL group after it."""
        body = _LEADING_DOT.sub(b"..", msg.encode("ascii") if isinstance(msg, str) else bytes(msg))
        try:
            self.fence(self.timeout)
        except LeaseLost:
            self.close()  # no "." ever: the server drops the message
            raise
        ended = body + (b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n")
        if then is not None:
            ended += _group(*then, sized="").encode()
            self.ahead = then
        self.send(ended)
        return self.getreply()

    def sendmail(
        self,
        from_addr: str,
        to_addrs: str | Sequence[str],
        msg: SizedBuffer | str,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
        then: Envelope | None = None,
    ) -> dict[str, tuple[int, bytes]]:
        self.ehlo_or_helo_if_needed()
        if mail_options or rcpt_options or not self.has_extn("pipelining"):
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        sent_ahead, self.ahead = self.ahead, None
        # The fence's round trip to Redis before the conversation rather than inside it:
        # right before the "." it is then the local clock's check alone (Lease.fence).
        try:
            self.fence(self.timeout)
        except LeaseLost:
            self.close()
            raise
        if sent_ahead is None:  # else it is this message's (SmtpBackend._send_on_connection)
            sized = f" size={len(msg)}" if self.has_extn("size") else ""
            self.send(_group(from_addr, recipients, sized))
        mail_code, mail_reply = self.getreply()
        refused = {}
        for each in recipients:
            code, reply = self.getreply()
            if code not in (250, 251):
                refused[each] = (code, reply)
        data_code, data_reply = self.getreply()
        if mail_code == 250 and len(refused) < len(recipients) and data_code == 354:
            code, reply = self._content(msg, then)
            if code != 250:
                self._given_up(code)
                raise smtplib.SMTPDataError(code, reply)
            return refused
        if data_code == 354:  # DATA accepted after a refusal: an empty message, then RSET
            self.send(b".\r\n")
            self.getreply()
        self._given_up(421 if 421 in (mail_code, data_code) else 0)
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_reply, from_addr)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        raise smtplib.SMTPDataError(data_code, data_reply)

    def _given_up(self, code: int) -> None:
        """After a refusal, as smtplib does: 421 closes the connection, anything else RSETs."""
        if code == 421:
            self.close()
            return
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.rset()


def _group(sender: str, recipients: Sequence[str], sized: str) -> str:
    """MAIL, RCPT and DATA, which ends a pipelined group."""
    rcpts = "".join(f"rcpt TO:{_quoted(each)}\r\n" for each in recipients)
    return f"mail FROM:{_quoted(sender)}{sized}\r\n{rcpts}data\r\n"


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

    def pipelined(self) -> Envelope | None:
        """The envelope as a MAIL group sent ahead of this message would have it."""
        return None if self.raw is None else (self.envelope[0], tuple(self.envelope[1]))

    def go(self, client: _Fenced, then: Envelope | None) -> None:
        if self.raw is None:
            client.send_message(self.message.to_email(self.sender, self.sent_at))
        else:
            client.sendmail(*self.envelope, self.raw, then=then)


def _ahead(sender: str, then: Sequence[str]) -> Envelope | None:
    if not then:
        return None
    mail_from, rcpt_to = envelope_of(sender, then)
    return (mail_from, tuple(rcpt_to)) if "".join([mail_from, *rcpt_to]).isascii() else None


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
        # Each write is a whole step of the conversation, sent at once: without this,
        # Nagle's algorithm may hold one for the server's delayed ACK (40 ms a message).
        if client.sock is not None:
            client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.security == "starttls":
            client.starttls(context=self.tls)
        if self.username:
            client.login(self.username, self.password)
        return client

    def _send_on_connection(self, outgoing: _Outgoing, fence: Fence, then: Envelope | None) -> None:
        held = self._connection
        if held.client is not None and held.client.ahead not in (None, outgoing.pipelined()):
            # Another message's MAIL went ahead and is in DATA: hanging up is the only
            # way to take it back (the server drops a message whose DATA never ended).
            held.close(polite=False)
        reused = held.client is not None
        if held.client is None:
            held.client = self._connect()
        try:
            held.client.fence = fence
            outgoing.go(held.client, then)
        except smtplib.SMTPServerDisconnected:
            held.close(polite=False)
            if not reused:
                raise
            held.client = self._connect()  # it was closed while idle: once more, fresh
            held.client.fence = fence
            outgoing.go(held.client, then)

    def send(
        self,
        message: OutgoingMessage,
        sender: str,
        sent_at: datetime,
        fence: Fence = unfenced,
        then: Sequence[str] = (),
    ) -> None:
        """`then`: the To of the message expected next, whose MAIL group goes with this
        one's "." (_Fenced); a different message next costs a new connection."""
        outgoing = _Outgoing.of(message, sender, sent_at)
        ahead = _ahead(sender, then) if outgoing.raw is not None else None
        try:
            with self._lock:
                try:
                    self._send_on_connection(outgoing, fence, ahead)
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
