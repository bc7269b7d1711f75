"""A running router for tests: the real Redis, a real Celery worker (in a thread), the real
API on a real HTTP server, the scheduler loop, and a clock the test moves."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio
import uvicorn
from celery.contrib.testing.worker import start_worker

from router.api.app import create_api
from router.config.clock import FixedClock
from router.config.settings import Settings
from router.delivery.mail.backends import EmailBackend
from router.processes.scheduler import Scheduler
from router.processes.serve import uvicorn_config
from router.processes.worker import create_celery
from router.queue.tasks import QUEUES
from router.service.folding import Fault, no_fault
from router.service.runtime import Runtime, build_runtime
from router.state import keys
from router.state.keys import LEASED, TIMERS
from router.state.publish import redis_sender
from router.state.sessions import Logins
from tests.redis_server import session_redis

TOKEN = "test-token-1"
KSHAMA_TOKEN = "test-token-kshama"  # a named token: what it changes is recorded as "kshama"
REDIS_DB = 0  # of the session's own redis-server, flushed before each test
PROFIT_AGGREGATE_KEY = "test-routing-key-profit-aggregate-0001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(check: Callable[[], Any], timeout_s: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or check}")


def read_outbox(directory: Path) -> list[EmailMessage]:
    if not directory.exists():
        return []
    found = []
    for path in sorted(directory.glob("*.eml")):
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1: PagerDuty's client speaks only https."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None, "no text/plain part"
    text: str = part.get_content()
    return text


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None, "no text/html part"
    html: str = part.get_content()
    return html


@dataclass
class Stack:
    runtime: Runtime
    clock: FixedClock
    url: str
    outbox: Path
    tls: ssl.SSLContext
    cert: Path
    scheduler: Scheduler

    @property
    def redis(self) -> redis.Redis:
        return self.runtime.redis

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
            verify=self.tls,
        )

    def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """POST one native event the way a pipeline does; it must be accepted."""
        with self.client() as client:
            answer = client.post("/v1/events", json=event)
        assert answer.status_code == 202, answer.text
        accepted: dict[str, Any] = answer.json()
        return accepted

    def settle(self, timeout_s: float = 20.0) -> None:
        """Drive the scheduler's tick at the current clock and wait until the worker has
        nothing queued or in hand, until a tick hands out nothing more: after this, an
        assertion that nothing happened means nothing will."""

        db = str(self.redis.connection_pool.connection_kwargs.get("db", 0))

        def idle() -> bool:
            queued = sum(self.redis.llen(queue) for queue in QUEUES)
            # a due timer is work too: the scheduler thread may have written it (a fold
            # of its own tick) after this tick looked
            due = self.redis.zcount(TIMERS, "-inf", self.clock.now().timestamp())
            busy = self.redis.hlen("unacked") or self.redis.zcard(LEASED) or due
            # A message the worker has just taken off the queue is, for an instant, in
            # neither the queue nor `unacked`: only a worker blocked in BRPOP holds none.
            waiting = any(
                c.get("cmd") == "brpop" and "b" in c.get("flags", "") and c.get("db") == db
                for c in self.redis.client_list()
            )
            return queued == 0 and not busy and waiting

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            wait_until(idle, timeout_s=timeout_s, what="the worker to drain")
            if self.scheduler.tick(self.clock.now()) == 0:
                wait_until(idle, timeout_s=timeout_s, what="the worker to drain")
                return
        raise AssertionError("the scheduler kept handing out timers")

    def incident_id(self, dedup_key: str) -> str:
        """The id of the incident `dedup_key` opened, once it exists."""

        def found() -> str | None:
            hits = [i for i in self.runtime.engine.store.listing(None) if i.dedup_key == dedup_key]
            return hits[0].id if hits else None

        incident_id: str = wait_until(found, what=f"the incident {dedup_key}")
        return incident_id

    def contents(self, skip: tuple[bytes, ...] = ()) -> dict[bytes, Any]:
        """Every router key and its value in a comparable form (worker heartbeats and
        keys starting with `skip` aside), and what is queued for the workers: for a test
        that something wrote nothing."""
        said: dict[bytes, Any] = {}
        client = self.redis
        for key in client.scan_iter("ar:*"):
            if key.startswith((b"ar:workers", *skip)):
                continue
            kind = client.type(key)
            if kind == b"string":
                said[key] = client.get(key)
            elif kind == b"hash":
                said[key] = client.hgetall(key)
            elif kind == b"zset":
                said[key] = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"list":
                said[key] = client.lrange(key, 0, -1)
            elif kind == b"set":
                said[key] = sorted(client.smembers(key))
            else:
                said[key] = kind
        for queue in QUEUES:
            said[f"queue {queue}".encode()] = client.lrange(queue, 0, -1)
        said[b"unacked"] = client.hgetall("unacked")
        return said

    def emails(self) -> list[EmailMessage]:
        return read_outbox(self.outbox)

    def email_count(self) -> int:
        """Without parsing: cheap enough to poll while the worker in this process sends."""
        return len(list(self.outbox.glob("*.eml"))) if self.outbox.exists() else 0

    def recipients(self) -> list[str]:
        return sorted(str(m["To"]) for m in self.emails())


def settings_for(rules_dir: Path, outbox: Path, db: int = REDIS_DB, **extra: str) -> Settings:
    values = {
        "REDIS_URL": session_redis().url(db),
        "ROUTER_ROUTING_KEYS": f"profit-aggregate={PROFIT_AGGREGATE_KEY}",
        "ROUTER_RULES_DIR": str(rules_dir),
        "ROUTER_API_TOKENS": f"{TOKEN},kshama={KSHAMA_TOKEN}",
        "ROUTER_OUTBOX_DIR": str(outbox),
        "ROUTER_SCHEDULER_TICK_S": "0.05",
        "ROUTER_TIMER_LEASE_S": "5",
        "ROUTER_SECRET_KEY": "test-secret-key",
        **extra,
    }
    return Settings(**values)  # type: ignore[arg-type]


@contextmanager
def running_stack(
    rules_dir: Path,
    outbox: Path,
    start: datetime,
    backend: EmailBackend | None = None,
    fault: Fault = no_fault,
    **extra: str,
) -> Iterator[Stack]:
    """`extra`: settings besides settings_for's (ROUTER_API_TOKENS=...)."""
    settings = settings_for(rules_dir, outbox, REDIS_DB, **extra)
    clock = FixedClock(start)
    runtime = build_runtime(settings, clock, backend, fault)
    runtime.redis.flushdb()
    celery = create_celery(lambda: runtime, settings.redis_url)
    send = redis_sender(runtime.redis)
    app = create_api(runtime)
    port = free_port()
    key, cert = self_signed(outbox.parent)
    server = uvicorn.Server(
        uvicorn_config(app, "127.0.0.1", port, ssl_keyfile=str(key), ssl_certfile=str(cert))
    )
    serving = threading.Thread(target=server.run, daemon=True)
    stop = threading.Event()
    scheduler = Scheduler(runtime, send)
    ticking = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        serving.start()
        ticking.start()
        wait_until(lambda: server.started, what="the API server")
        try:
            tls = ssl.create_default_context(cafile=str(cert))
            yield Stack(runtime, clock, f"https://127.0.0.1:{port}", outbox, tls, cert, scheduler)
        finally:
            stop.set()
            server.should_exit = True
            ticking.join(10)
            serving.join(10)
    runtime.redis.flushdb()


def console_session(stack: Stack, person: str) -> tuple[str, str]:
    """A console session, as the emailed sign-in link makes it: (its id, its CSRF)."""
    secret = stack.runtime.settings.secret_key.get_secret_value().encode()

    async def sign_in() -> tuple[str, str]:
        async with redis.asyncio.Redis.from_url(stack.runtime.settings.redis_url) as client:
            logins = Logins(secret)
            session = await logins.finish(client, await logins.start(client, person))
            return session.id, session.csrf

    return asyncio.run(sign_in())


def folded_ids(client: redis.Redis) -> set[str]:
    """Every event id the router has folded: the `seen` markers of each pipeline and day."""
    found: set[str] = set()
    for key in client.scan_iter(match=keys.SEEN_ON_MATCH, count=1000):
        found |= {f.decode() if isinstance(f, bytes) else f for f in client.hkeys(key)}
    return found
