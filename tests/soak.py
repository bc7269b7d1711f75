"""A bounded failover soak (issue 20): the router on three test hosts (tests.hosts, as the
drills of tests/test_hosts.py lay it out) takes distinct P1 events for --minutes while
the master is lost every --every-s seconds: in turn by a planned SENTINEL FAILOVER (the
master's writes paused and its replicas caught up first), by SIGKILL of its
redis-server, and by its host cut off (never the API's host: a killed server instead). Each lost master comes back as a replica before the next loss. At the end,
every accepted event must be folded and paged exactly once.

    python -m tests.soak                          10 minutes, a loss every 2 (docs/soak.json)
    python -m tests.soak --minutes 2 --every-s 40 --json /tmp/soak.json

It needs root for network namespaces (else loopback ports, as the drills). The figures
go into docs/benchmarks.md when it is next rendered (bench.report).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import machine
from tests.hosts import Host, Hosts
from tests.mailservers import smtp_server
from tests.onhosts import (
    Sender,
    folded_keys,
    incidents,
    marked_repeats,
    messages,
    p1_events,
    pages,
    start_router,
)
from tests.stack import free_port, wait_until

DOCS = Path(__file__).resolve().parents[1] / "docs"
KINDS = ("sentinel failover", "redis-server killed", "host cut off")
CUT_FOR_S = 20.0
PAUSE_MS = 15_000  # longer than the Sentinels take to make the old master a replica
BATCH, EVERY_BATCH_S = 10, 0.5


class Losses:
    """Loses the master every `every_s` seconds from `started`, in a thread."""

    def __init__(
        self,
        hosts: Hosts,
        started: float,
        every_s: float,
        until: float,
        kinds: tuple[str, ...] = KINDS,
    ) -> None:
        self.hosts, self.started, self.every_s, self.until = hosts, started, every_s, until
        self.kinds = kinds
        self.done: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 1
        while self.started + number * self.every_s < self.until:
            time.sleep(max(0.0, self.started + number * self.every_s - time.monotonic()))
            self.done.append(self._lose(self.kinds[(number - 1) % len(self.kinds)]))
            number += 1

    def _lose(self, kind: str) -> dict[str, Any]:
        old = self.hosts.master()
        assert old is not None and old.redis is not None
        if kind == "host cut off" and old is self.hosts[1]:
            kind = "redis-server killed"  # the API's host stays reachable
        others = [host for host in self.hosts.hosts if host is not old]
        at = time.monotonic()
        if kind == "sentinel failover":
            self.hosts.failover(pause_writes_ms=PAUSE_MS)
        elif kind == "redis-server killed":
            old.redis.kill()
        else:
            self.hosts.cut(old)
        new = self.hosts.new_master(old, others)
        found_s = time.monotonic() - at
        self._bring_back(kind, old)
        return {
            "kind": kind,
            "at_s": round(at - self.started, 1),
            "from": old.number,
            "to": new.number,
            "new_master_after_s": round(found_s, 1),
            "old_rejoined_after_s": round(time.monotonic() - at, 1),
            "monotonic": at,
        }

    def _bring_back(self, kind: str, old: Host) -> None:
        assert old.redis is not None
        if kind == "redis-server killed":
            old.redis.start()
        elif kind == "host cut off":
            time.sleep(CUT_FOR_S)
            self.hosts.mend(old)
        wait_until(lambda: self.hosts.rejoined(old), 90, "the old master to rejoin")
        if kind == "sentinel failover":  # a replica now: what waited there is refused
            with old.redis.client() as client:
                client.execute_command("CLIENT UNPAUSE")


def soak(
    work: Path, minutes: float, every_s: float, kinds: tuple[str, ...] = KINDS
) -> dict[str, Any]:
    hosts = Hosts(work / "hosts")
    smtp_port = free_port()
    try:
        hosts.start(master=3)
        with smtp_server(smtp_port, host=hosts.gateway) as inbox:
            deployment = start_router(work, hosts, smtp_port)
            sender = Sender(deployment.url)
            try:
                started = time.monotonic()
                until = started + minutes * 60
                losses = Losses(hosts, started, every_s, until, kinds)
                losses.thread.start()
                batch = 0
                while time.monotonic() < until:
                    sender.post(p1_events(f"soak-{batch}", BATCH))
                    batch += 1
                    time.sleep(max(0.0, started + batch * EVERY_BATCH_S - time.monotonic()))
                losses.thread.join(300)
                accepted = len(sender.accepted)
                with contextlib.suppress(AssertionError):  # the figures say what is missing
                    wait_until(lambda: len(pages(inbox)) >= accepted, 180, "a page per event")
                wait_until(deployment.idle, 180, "every task and timer to be done")
                lost = sorted(sender.accepted - folded_keys(deployment))
                sent = messages(inbox)
                starts = [loss["monotonic"] for loss in losses.done]
                recovered = [
                    sender.recovered_s(start, until)
                    for start, until in zip(starts, [*starts[1:], float("inf")], strict=True)
                ]
                for loss, seconds in zip(losses.done, recovered, strict=True):
                    del loss["monotonic"]
                    loss["a_202_again_after_s"] = round(seconds, 1)
                return {
                    "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "machine": machine(),
                    "hosts": hosts.mode,
                    "minutes": minutes,
                    "every_s": every_s,
                    "events_per_s": BATCH / EVERY_BATCH_S,
                    "accepted": accepted,
                    "folded": incidents(deployment),
                    "pages": len(pages(inbox)),
                    "duplicates": sum(n - 1 for n in sent.values()),
                    "marked_repeats": marked_repeats(inbox),
                    "refused_requests": sender.refused,
                    "lost": lost,
                    "a_202_again_median_s": round(statistics.median(recovered), 1)
                    if recovered
                    else 0.0,
                    "losses": losses.done,
                }
            finally:
                sender.close()
                deployment.stop()
    finally:
        hosts.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every-s", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="where the figures go [docs/soak.json]")
    parser.add_argument("--work", type=Path, help="keep the processes' logs here")
    parser.add_argument(
        "--kind", action="append", choices=KINDS, help="only these losses, in turn [all]"
    )
    args = parser.parse_args()
    kinds = tuple(args.kind) if args.kind else KINDS
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        figures = soak(args.work, args.minutes, args.every_s, kinds)
    else:
        with tempfile.TemporaryDirectory(prefix="ar-soak-") as scratch:
            figures = soak(Path(scratch), args.minutes, args.every_s, kinds)
    text = json.dumps(figures, indent=2) + "\n"
    (args.json or DOCS / "soak.json").write_text(text, encoding="utf-8")
    print(text)
    lost = len(figures["lost"])
    if lost or figures["duplicates"] or figures["pages"] != figures["accepted"]:
        print(f"soak: {lost} accepted events lost, {figures['duplicates']} sent twice")
        sys.exit(1)


if __name__ == "__main__":
    main()
