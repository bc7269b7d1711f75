"""The router as production runs it, for the fault drills: `router api`, `router
scheduler` and `router worker` as processes, on a redis-server the drill owns, sending
email to a real SMTP server (aiosmtpd) in the test."""

from __future__ import annotations

import contextlib
import email
import email.parser
import email.policy
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import redis

from router.queue.tasks import QUEUES
from router.state import connect
from router.state.keys import LEASED, TIMERS
from tests.mailservers import SmtpInbox
from tests.redis_server import RedisServer
from tests.stack import TOKEN, free_port, wait_until
from tests.support import RULES_DIR, without_deadlines

ROOT = RULES_DIR.parent


_HEADERS = email.parser.BytesHeaderParser()


class Received(NamedTuple):
    kind: str
    key: str
    """The idempotency key."""
    marked_repeat: bool
    """Sent again after an attempt whose outcome is unknown, and marked so
    (`X-Alert-Router-Possible-Repeat`): the router's at-least-once, said out loud."""


_READ: weakref.WeakKeyDictionary[SmtpInbox, list[Received]] = weakref.WeakKeyDictionary()


def received(inbox: SmtpInbox) -> list[Received]:
    """Every message received, in order, parsing each message once: the drills poll
    this every 50 ms while thousands arrive, and parsing 2,000 again each time kept
    most of a core busy."""
    found = _READ.setdefault(inbox, [])
    for raw in inbox.messages[len(found) :]:
        headers = _HEADERS.parsebytes(raw, headersonly=True)  # the body is not needed
        kind, key = headers["X-Alert-Router-Kind"], headers["X-Alert-Router-Idempotency-Key"]
        repeat = headers["X-Alert-Router-Possible-Repeat"] == "yes"
        found.append(Received(str(kind), str(key).strip(), repeat))
    return list(found)


def message_ids(inbox: SmtpInbox) -> list[str]:
    """The idempotency key of every message received."""
    return [got.key for got in received(inbox)]


class Deployment:
    def __init__(
        self,
        directory: Path,
        server: RedisServer | None,
        smtp_port: int,
        rules_dir: Path = RULES_DIR,
        *,
        redis_url: str = "",
        host: str = "127.0.0.1",
        smtp_host: str = "127.0.0.1",
        **settings: str,
    ) -> None:
        """`redis_url` instead of `server`'s (a Sentinel URL); `host`: the API's address;
        `smtp_host`: where the SMTP server listens (tests.hosts: the test's side)."""
        self.directory, self.server = directory, server
        self.redis_url = redis_url or (server.url() if server else "")
        assert self.redis_url, "a Deployment needs a redis-server or a REDIS_URL"
        # the processes read the real clock: see without_deadlines
        rules_dir = without_deadlines(rules_dir, directory / "rules-without-deadlines")
        self.host, self.port = host, free_port()
        self.url = f"http://{host}:{self.port}"
        self.env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "ROUTER_API_TOKENS": TOKEN,
            "ROUTER_RULES_DIR": str(rules_dir),
            "ROUTER_SECRET_KEY": "drill-secret-key-0123456789",
            "ROUTER_EMAIL_BACKEND": "smtp",
            "ROUTER_SMTP_HOST": smtp_host,
            "ROUTER_SMTP_PORT": str(smtp_port),
            "ROUTER_SMTP_TIMEOUT_S": "5",
            "ROUTER_SCHEDULER_TICK_S": "0.2",
            "ROUTER_RETRY_BACKOFF_S": "0.5",
            # the drills count every page of thousands to a few people: no digest
            "ROUTER_DIGEST_AFTER_PAGES": "0",
            **settings,
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, *args: str, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """`prefix`: what runs the process (`ip netns exec NAME` on a test host)."""
        log = self.directory / f"{role}-{len(self.processes)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "router", role, *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a drill kills it whole
            )
        self.processes.append(process)
        return process

    def api(self, processes: int = 1, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        where = ("--host", self.host) if self.host != "127.0.0.1" else ()
        process = self.start(
            "api", *where, "--port", str(self.port), "--processes", str(processes), prefix=prefix
        )
        wait_until(lambda: self._status("/healthz") == 200, timeout_s=30, what="the api")
        return process

    def worker(
        self, concurrency: int = 2, lane: str = "all", prefix: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        return self.start(
            "worker", "--concurrency", str(concurrency), "--lane", lane, prefix=prefix
        )

    def scheduler(self, prefix: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        return self.start("scheduler", prefix=prefix)

    def _status(self, path: str) -> int:
        try:
            return httpx.get(f"{self.url}{path}", timeout=2).status_code
        except httpx.HTTPError:
            return 0

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def client(self) -> redis.Redis:
        """The master's client, through the Sentinels for a Sentinel URL."""
        return connect.client(self.redis_url, socket_connect_timeout=2, socket_timeout=5)

    def idle(self) -> bool:
        """Nothing queued, nothing held by a worker, no timer in hand, and none due: a
        fire task that ran out of time hands its timers back due now, and they wait for
        the scheduler's next tick in no other set (a drill once counted its pages in
        that gap and missed 33)."""
        try:
            with self.client() as client:
                queued = sum(client.llen(queue) for queue in QUEUES)
                due = client.zcount(TIMERS, "-inf", time.time())
                return (
                    not queued and not client.hlen("unacked") and not client.zcard(LEASED)
                ) and not due
        except redis.RedisError:
            return False

    def state(self) -> str:
        """What is left to do, for a drill's failure message: the queues' lengths, the
        messages held, the timers in hand and due."""
        try:
            with self.client() as client:
                queued = {queue: client.llen(queue) for queue in QUEUES}
                now = time.time()
                return (
                    f"queued {queued}, unacked {client.hlen('unacked')}, "
                    f"timers {client.zcard(TIMERS)} ({client.zcount(TIMERS, '-inf', now)} due), "
                    f"leased {client.zcard(LEASED)}, master {client.connection_pool.get_master_address() if hasattr(client.connection_pool, 'get_master_address') else '-'}"
                )
        except redis.RedisError as error:
            return f"Redis unreachable: {error}"

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process and its whole group (a worker's pool children too)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    @staticmethod
    def pool_children(process: subprocess.Popen[bytes]) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == process.pid:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(process)
