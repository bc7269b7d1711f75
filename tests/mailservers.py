"""Real servers for the email backends: an SMTP server (aiosmtpd) and a stand-in for
SendGrid's HTTP API (the one thing that cannot be reached from here)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


class SmtpInbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.recipients: list[list[str]] = []
        self.peers: list[Any] = []  # the client's address per message: its connection

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.append(session.peer)
        self.messages.append(envelope.original_content or envelope.content)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


class PipeliningInbox(SmtpInbox):
    """An inbox whose server offers PIPELINING (RFC 2920), as Postfix and most relays do:
    aiosmtpd reads pipelined commands but does not say so. It refuses the recipients in
    `refused`, as a relay refuses an unknown mailbox."""

    def __init__(self, refused: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.refused = refused

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [responses[0], "250-PIPELINING", *responses[1:]]

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@contextmanager
def smtp_server(
    port: int, inbox: SmtpInbox | None = None, host: str = "127.0.0.1", **options: Any
) -> Iterator[SmtpInbox]:
    inbox = inbox or SmtpInbox()
    controller = Controller(inbox, hostname=host, port=port, **options)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class FakeSendGrid:
    """Answers POST /v3/mail/send from a script of (status, headers); 202 when it runs out."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    outage: tuple[int, dict[str, str]] | None = None  # while set, every request gets it

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        with self.lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.outage is not None:
                return self.outage
            return self.script.pop(0) if self.script else (202, {})

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Requests that SendGrid would have accepted (one per delivery)."""
        return [r for r, s in zip(self.requests, self.statuses, strict=True) if s == 202]

    statuses: list[int] = field(default_factory=list)


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server on a free loopback port, in a thread, for the test's duration."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def sendgrid_server() -> Iterator[tuple[FakeSendGrid, str]]:
    fake = FakeSendGrid()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            status, extra = fake.answer(body, dict(self.headers))
            fake.statuses.append(status)
            payload = (
                b""
                if status == 202
                else json.dumps({"errors": [{"message": f"status {status}"}]}).encode()
            )
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as url:
        yield fake, url


@dataclass
class WebhookReceiver:
    """Records each call (headers, raw body) and answers from a script of statuses; 200
    when it runs out."""

    script: list[int] = field(default_factory=list)
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes, path: str = "/") -> int:
        with self.lock:
            self.calls.append((headers, body))
            self.paths.append(path)
            return self.script.pop(0) if self.script else 200

    def json_calls(self, path: str) -> list[dict[str, Any]]:
        """The JSON bodies posted to `path` (apprise's json://), in order."""
        with self.lock:
            pairs = list(zip(self.paths, self.calls, strict=True))
        return [json.loads(body) for at, (_, body) in pairs if at == path]


@contextmanager
def webhook_receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.answer(dict(self.headers), body, self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with _serving(Handler) as url:
        yield receiver, url


class Tarpit:
    """A mail server that hangs: it accepts connections on `port` and never answers,
    until `end()` closes them all and frees the port for a real server."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.held: list[socket.socket] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed by end()
                return
            self.held.append(connection)
            self.connections += 1

    def end(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accept() in progress: it lets go
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.held:
            connection.close()
