"""What the benchmarks run against: the router's processes on a redis-server of their
own (tests/deployment.py), a real Alertmanager, and an SMTP server that notes when each
message arrives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tests.alertmanager import installed, running_alertmanager
from tests.stack import free_port


class TimedInbox:
    """Each message's subject and the monotonic instant it arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrivals.append((time.monotonic(), envelope.original_content or envelope.content))
        return "250 OK"


@contextmanager
def timed_smtp() -> Iterator[tuple[TimedInbox, int]]:
    inbox, port = TimedInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@contextmanager
def alertmanager(directory: Path) -> Iterator[str | None]:
    """A real Alertmanager that routes nowhere (None when the binary is not installed)."""
    if not installed():
        yield None
        return
    with running_alertmanager(
        directory, "route: {receiver: nowhere}\nreceivers: [{name: nowhere}]\n"
    ) as url:
        yield url


def rss_mb(pid: int, with_children: bool = False) -> float:
    """Resident memory of a process (and of its children: a worker's pool)."""
    pids = [pid]
    if with_children:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                except OSError:
                    continue
                if int(parent) == pid:
                    pids.append(int(entry.name))
    total_kb = 0
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024
