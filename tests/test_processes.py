"""The router as separate processes, the way it runs in production."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from aiosmtpd.controller import Controller

from router.config.clock import SystemClock
from router.core.events import parse_event
from router.core.rotation import shift_at
from router.processes.scheduler import Scheduler
from router.queue.tasks import QUEUES
from router.service.runtime import build_runtime
from router.state.keys import LEASED, TIMERS
from router.state.publish import redis_sender
from tests.redis_server import session_redis
from tests.stack import TOKEN, free_port, read_outbox, settings_for, wait_until
from tests.support import RULES_DIR, without_deadlines

ROOT = RULES_DIR.parent


def _env(db: int, rules_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_URL": session_redis().url(db),
        "ROUTER_API_TOKENS": TOKEN,
        "ROUTER_RULES_DIR": str(rules_dir),
        "ROUTER_SECRET_KEY": "process-test-secret-key",
        **extra,
    }


def _readme_event() -> dict[str, Any]:
    """The example event the README posts with curl."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("-d '", readme.index("/v1/events -d '")) + 4
    event: dict[str, Any] = json.loads(readme[start : readme.index("'", start)])
    return event


@contextmanager
def router_up(
    tmp_path: Path, port: int, env: dict[str, str], serving: Callable[[str], object] | None = None
) -> Iterator[str]:
    """`router up` as a user starts it; Ctrl-C at the end must stop everything cleanly.
    Yields once `serving(url)` holds: by default, once /readyz answers 200."""
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            [sys.executable, "-m", "router", "up", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            ready = serving or (lambda url: _status(f"{url}/readyz") == 200)
            wait_until(lambda: ready(url), timeout_s=60, what="router up to serve")
            yield url
        finally:
            up.send_signal(signal.SIGINT)
            assert up.wait(30) == 0


def test_router_up_serves_and_pages(tmp_path: Path) -> None:
    session_redis().client(14).flushdb()
    outbox, port = tmp_path / "outbox", free_port()
    rules_dir = without_deadlines(RULES_DIR, tmp_path / "rules")  # the real clock
    with router_up(tmp_path, port, _env(14, rules_dir, ROUTER_OUTBOX_DIR=str(outbox))) as url:
        event = _readme_event()
        answer = httpx.post(
            f"{url}/v1/events", json=event, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 202, answer.text
        (page,) = wait_until(lambda: read_outbox(outbox), timeout_s=30, what="the page email")
        rules = build_runtime(settings_for(rules_dir, outbox, db=14)).rules
        on_call = shift_at(SystemClock().now(), rules)
        assert page["To"] == on_call.email  # daily data pages the on-call engineer, any hour
        assert page["Subject"].strip() == f"[P2] Unit-level profit: {event['summary']}"
    session_redis().client(14).flushdb()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def silent_smtp() -> Iterator[tuple[int, threading.Event]]:
    """Accepts connections and never greets: a worker sending through it is stuck."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connected = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], connected
    listener.close()
    for conn in held:
        conn.close()


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "router", "worker", "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_worker_killed_mid_send_pages_exactly_once(
    tmp_path: Path, silent_smtp: tuple[int, threading.Event]
) -> None:
    db = 15
    rules_dir = without_deadlines(RULES_DIR, tmp_path / "rules")  # the real clock
    settings = settings_for(
        rules_dir,
        tmp_path / "outbox",
        db=db,
        ROUTER_TIMER_LEASE_S="3",
        ROUTER_RETRY_BACKOFF_S="0.2",
    )
    runtime = build_runtime(settings)
    runtime.redis.flushdb()
    stop = threading.Event()
    scheduler = Scheduler(runtime, redis_sender(runtime.redis))
    ticking = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
    ticking.start()
    stuck_port, connected = silent_smtp
    inbox = _Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    common = {
        "ROUTER_EMAIL_BACKEND": "smtp",
        "ROUTER_REDELIVER_AFTER_S": "5",  # what the dead worker held comes back sooner
        "ROUTER_TIMER_LEASE_S": "3",
        "ROUTER_SMTP_TIMEOUT_S": "1.5",
    }
    first = _worker(
        _env(db, rules_dir, ROUTER_SMTP_PORT=str(stuck_port), **common), tmp_path / "w1.log"
    )
    second = None
    try:
        now = runtime.clock.now()
        event = parse_event(
            {
                "pipeline": "profit.unit",
                "type": "job_failed",
                "severity": "P1",
                "summary": "Unit-level profit job failed",
            },
            runtime.rules,
            now,
        )
        outcome = runtime.engine.intake.apply(event, "evt-1", now)
        assert outcome is not None
        incident = outcome.opened
        assert incident is not None and outcome.decision.decision == "page"
        assert connected.wait(30), "the first worker never tried to send"
        os.killpg(first.pid, signal.SIGKILL)  # dies holding the due step
        first.wait(10)
        second = _worker(
            _env(db, rules_dir, ROUTER_SMTP_PORT=str(smtp.port), **common), tmp_path / "w2.log"
        )
        wait_until(lambda: inbox.messages, timeout_s=30, what="the page after the restart")
        first_step = f"step:{incident.id}:0:0"

        def step_done() -> bool:  # released by the worker that sent it: nothing more to do
            client = runtime.redis
            return (
                client.zscore(LEASED, first_step) is None
                and client.zscore(TIMERS, first_step) is None
                and not any(client.llen(queue) for queue in QUEUES)
                and not client.hlen("unacked")
            )

        wait_until(step_done, timeout_s=30, what="the first step to be released")
        assert len(inbox.messages) == 1
        timeline = runtime.engine.store.timeline(incident.id)
        assert [e["kind"] for e in timeline].count("message") == 1
        to = shift_at(now, runtime.rules).email
        assert f"To: {to}".encode() in inbox.messages[0]
    finally:
        stop.set()
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(20)
        smtp.stop()
        ticking.join(5)
        runtime.redis.flushdb()


def test_router_up_starts_a_private_redis_when_none_answers(tmp_path: Path) -> None:
    redis_port, port = free_port(), free_port()
    env = _env(
        0,
        without_deadlines(RULES_DIR, tmp_path / "rules"),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        ROUTER_OUTBOX_DIR=str(tmp_path / "outbox"),
    )
    with router_up(tmp_path, port, env):
        client = redis.Redis(port=redis_port)
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.close()
    said = (tmp_path / "up.log").read_text(encoding="utf-8")
    assert f"starting a private redis-server on 127.0.0.1:{redis_port}" in said
    assert (tmp_path / "var" / "redis").is_dir()
    assert _status(f"http://127.0.0.1:{port}/healthz") == 0  # everything stopped


@pytest.mark.parametrize(
    ("lane", "asked", "added"), [("fold", None, 10), ("ingest", None, 10), ("deliver", 5, 5)]
)
def test_a_workers_lane_sets_its_cpu_niceness(
    tmp_path: Path, lane: str, asked: int | None, added: int
) -> None:
    """The fold and ingest lanes yield the cores to pages by default; --nice says otherwise."""
    rules_dir = without_deadlines(RULES_DIR, tmp_path / "rules")
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    command = [sys.executable, "-m", "router", "worker", "--lane", lane, "--concurrency", "1"]
    if asked is not None:
        command += ["--nice", str(asked)]
    with (tmp_path / "worker.log").open("ab") as out:
        worker = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_env(14, rules_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wanted = min(19, ours + added)
        wait_until(lambda: os.getpriority(os.PRIO_PROCESS, worker.pid) == wanted, 30)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
