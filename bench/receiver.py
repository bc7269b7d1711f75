"""`python -m bench.receiver PORT FILE`: the harness's SMTP server. For each
message it appends a line of JSON to FILE: when it arrived (CLOCK_MONOTONIC and the
wall clock), for whom, its X-Alert-Router-Kind and subject, and its size. A process of
its own (bench/services.py starts it), so that timing an arrival never waits for the
bench's load generators. The server is a small asyncio SMTP sink (Sink), not aiosmtpd."""

from __future__ import annotations

import asyncio
import email.header
import json
import re
import signal
import sys
import time
from typing import IO, NamedTuple


class Arrival(NamedTuple):
    mono_s: float
    wall_s: float
    to: tuple[str, ...]
    kind: str
    subject: str
    size_bytes: int

    def line(self) -> bytes:
        return json.dumps(self._asdict()).encode() + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Arrival:
        said = json.loads(line)
        return cls(**{**said, "to": tuple(said["to"])})


_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_HEADER = re.compile(
    rb"^(Subject|X-Alert-Router-Kind):[ \t]*(.*?)\r?$", re.MULTILINE | re.IGNORECASE
)


def read_arrival(raw: bytes, to: tuple[str, ...], mono_s: float, wall_s: float) -> Arrival:
    """The headers the scenarios need, found in the header block by a regex: parsing
    every message with the `email` package would cost the receiver more than the router
    spends sending it."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    found = {
        name.decode().lower(): value.strip().decode("ascii", "replace")
        for name, value in _HEADER.findall(_FOLD.sub(b"", head))
    }
    subject = found.get("subject", "")
    if "=?" in subject:  # RFC 2047 words, for a subject the sender had to encode
        subject = str(email.header.make_header(email.header.decode_header(subject)))
    return Arrival(mono_s, wall_s, to, found.get("x-alert-router-kind", ""), subject, len(raw))


_EHLO = b"250-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 HELP\r\n"
_END = b"\r\n.\r\n"


class Sink(asyncio.Protocol):
    """Just enough SMTP for smtplib (EHLO with PIPELINING, HELO, MAIL, RCPT, DATA and
    its ".", RSET, NOOP, QUIT), parsing nothing it need not: aiosmtpd cost 1.47 ms of
    CPU a message, as much as the router it measures. Replies to pipelined commands go
    in one write per read; each message's line is written when its "." arrives, before
    its 250, so a message counts on arrival as with aiosmtpd."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.buffer = b""
        self.in_data = False
        self.rcpt_tos: list[str] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 bench ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        wrote = False
        while True:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):
                    end, body, rest = 0, b"", self.buffer[3:]
                else:
                    end = self.buffer.find(_END)
                    if end < 0:
                        break
                    body, rest = self.buffer[: end + 2], self.buffer[end + len(_END) :]
                mono_s, wall_s = time.monotonic(), time.time()
                raw = body.replace(b"\r\n..", b"\r\n.")
                if raw.startswith(b".."):
                    raw = raw[1:]
                self.out.write(read_arrival(raw, tuple(self.rcpt_tos), mono_s, wall_s).line())
                wrote = True
                self.buffer, self.in_data, self.rcpt_tos = rest, False, []
                replies.append(b"250 OK\r\n")
                continue
            line_end = self.buffer.find(b"\n")
            if line_end < 0:
                break
            line, self.buffer = self.buffer[:line_end].rstrip(b"\r"), self.buffer[line_end + 1 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                replies.append(_EHLO)
            elif verb == b"MAIL":
                self.rcpt_tos = []
                replies.append(b"250 OK\r\n")
            elif verb == b"RCPT":
                address = line.split(b":", 1)[1].strip().split(b" ", 1)[0]
                self.rcpt_tos.append(address.strip(b"<>").decode("utf-8", "replace"))
                replies.append(b"250 OK\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb in (b"HELO", b"RSET", b"NOOP"):
                if verb == b"RSET":
                    self.rcpt_tos = []
                replies.append(b"250 OK\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 Bye\r\n")
                self._reply(replies)
                if self.transport is not None:
                    self.transport.close()
                return
            else:
                replies.append(b"502 Command not implemented\r\n")
        if wrote:
            self.out.flush()  # whole lines only: the bench reads the file while it grows
        self._reply(replies)

    def _reply(self, replies: list[bytes]) -> None:
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))


async def serve(port: int, out: IO[bytes]) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(lambda: Sink(out), "127.0.0.1", port)
    async with server:
        await stop.wait()


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    with open(path, "ab") as out:
        asyncio.run(serve(port, out))


if __name__ == "__main__":
    main()
