"""`python -m bench.receiver PORT FILE`: the harness's SMTP server (aiosmtpd). For each
message it appends a line of JSON to FILE: when it arrived (CLOCK_MONOTONIC and the
wall clock), for whom, its X-Alert-Router-Kind and subject, and its size. A process of
its own (bench/services.py starts it), so that timing an arrival never waits for the
bench's load generators."""

from __future__ import annotations

import email.header
import json
import re
import signal
import sys
import threading
import time
from typing import IO, Any, NamedTuple


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


class Handler:
    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mono_s, wall_s = time.monotonic(), time.time()
        raw = envelope.original_content or envelope.content
        self.out.write(read_arrival(raw, tuple(envelope.rcpt_tos), mono_s, wall_s).line())
        self.out.flush()  # whole lines only: the bench reads the file while it grows
        return "250 OK"


def main() -> None:
    from aiosmtpd.controller import Controller

    port, path = int(sys.argv[1]), sys.argv[2]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(path, "ab") as out:
        controller = Controller(Handler(out), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            while not stop.wait(0.5):  # a short wait: the signal handler runs between them
                pass
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
