"""What the benchmarks run against: the router's own commands (`router api`, `router
worker`, `router scheduler`, `router up`) on a redis-server of their own, a real
Alertmanager, and an SMTP receiver in a process of its own that notes when each message
arrives.

Nothing here imports the router or the test suite: the bench talks to the router only
through its command line, its settings (environment) and its HTTP API, so reshaping the
router's internals cannot break the bench (tests/test_bench.py checks the imports)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from bench.receiver import Arrival

ROOT = Path(__file__).resolve().parents[1]
"""The checkout the bench belongs to: its router is the one measured."""
RULES_DIR = ROOT / "rules"
TOKEN = "bench-token-0123456789"
SECRET_KEY = "bench-secret-key-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Settings every router process of the bench gets (the same as the fault drills'): a
# scheduler tick of 0.2 s, since the default 1 s alone would make a timer up to 1 s late,
# and short SMTP timeouts and retries, so a hiccup shows as a figure, not a hang. A
# per-person page budget so high no page is held: its reads and writes are measured, and
# every page still counts (the digest itself has its own test, tests/test_digest.py).
SETTINGS = {
    "ROUTER_DIGEST_AFTER_PAGES": "1000000000",
    "ROUTER_EMAIL_BACKEND": "smtp",
    "ROUTER_SMTP_TIMEOUT_S": "5",
    "ROUTER_SCHEDULER_TICK_S": "0.2",
    "ROUTER_RETRY_BACKOFF_S": "0.5",
}

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], T | None], timeout_s: float, what: str, poll_s: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(poll_s)
    raise TimeoutError(f"bench: timed out after {timeout_s:.0f} s waiting for {what}")


# -- redis-server -----------------------------------------------------------------------


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(directory: Path, aof_rewrite: bool = True) -> Iterator[str]:
    """A redis-server with its append-only file on, as production runs it; yields its
    URL. Without `aof_rewrite`, the file is never compacted: for a scenario whose queue
    only grows (no worker drains it), where each automatic rewrite forks and copies the
    whole growing queue, taking a core the intake is measured on."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("bench: redis-server is not installed (apt-get install redis-server)")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory),
         "--appendonly", "yes", "--save", "", "--logfile", str(directory / "redis.log"),
         "--auto-aof-rewrite-percentage", "100" if aof_rewrite else "0"]
    )  # fmt: skip
    try:
        wait_until(lambda: _pings(port), 20, "redis-server", poll_s=0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(20)


# -- Alertmanager -----------------------------------------------------------------------

ALERTMANAGER = "prometheus-alertmanager"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def alertmanager(directory: Path) -> Iterator[str | None]:
    """A real Alertmanager that routes nowhere (None when the binary is not installed)."""
    binary = shutil.which(ALERTMANAGER)
    if binary is None:
        yield None
        return
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "alertmanager.yml"
    config.write_text("route: {receiver: nowhere}\nreceivers: [{name: nowhere}]\n")
    port = free_port()
    with (directory / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={directory / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(f"{url}/-/ready"), 30, "Alertmanager")
        yield url
    finally:
        process.terminate()
        process.wait(20)


def alertmanager_version() -> str:
    try:
        done = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True)
    except OSError:
        return "not installed"
    return (done.stdout + done.stderr).split("\n", 1)[0].replace("alertmanager, ", "")


# -- the SMTP receiver ------------------------------------------------------------------


class Receiver:
    """The arrivals so far, read from the receiver's file on each call (each line once)."""

    def __init__(self, port: int, path: Path, pid: int) -> None:
        self.port, self.path, self.pid = port, path, pid
        self._arrivals: list[Arrival] = []
        self._offset = 0

    def cpu_s(self) -> float:
        """CPU time the receiver has used so far: the harness's share of the cores."""
        return cpu_s(self.pid)

    def arrivals(self) -> list[Arrival]:
        with self.path.open("rb") as lines:
            lines.seek(self._offset)
            for line in lines:
                if not line.endswith(b"\n"):
                    break  # being written: read it next time
                self._offset += len(line)
                self._arrivals.append(Arrival.from_line(line))
        return self._arrivals


@contextmanager
def smtp_receiver(directory: Path) -> Iterator[Receiver]:
    """`python -m bench.receiver` (an asyncio SMTP sink) in a process of its own: it shares no
    interpreter lock with the bench's load, so an arrival is timed when it arrives.
    CLOCK_MONOTONIC is one clock for every process, so its instants compare with the
    bench's."""
    directory.mkdir(parents=True, exist_ok=True)
    port, path = free_port(), directory / "arrivals.jsonl"
    path.write_bytes(b"")  # a kept work folder may hold a run's arrivals already
    with (directory / "receiver.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", str(port), str(path)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"bench: the SMTP receiver stopped; see {directory}")
        return _accepts(port)

    try:
        wait_until(ready, 30, "the SMTP receiver")
        yield Receiver(port, path, process.pid)
    finally:
        process.terminate()
        process.wait(20)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            return conn.recv(64).startswith(b"220")
    except OSError:
        return False


# -- the router's processes -------------------------------------------------------------


def bench_rules(target: Path, edit_routing: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A copy of the shipped rules without the pipelines' deadlines (the router's
    processes read the real clock: a run between 19:00 Pacific and midnight would see
    today's unit-data deadline page in the middle of a scenario that counts pages), with
    routing.yaml edited by `edit_routing`."""
    shutil.copytree(RULES_DIR, target, dirs_exist_ok=True)
    pipelines = yaml.safe_load((target / "pipelines.yaml").read_text(encoding="utf-8"))
    for pipeline in pipelines["pipelines"]:
        pipeline["deadlines"] = []
    (target / "pipelines.yaml").write_text(yaml.safe_dump(pipelines, sort_keys=False))
    if edit_routing is not None:
        routing = yaml.safe_load((target / "routing.yaml").read_text(encoding="utf-8"))
        edit_routing(routing)
        (target / "routing.yaml").write_text(yaml.safe_dump(routing, sort_keys=False))
    return target


class RouterProcesses:
    """`python -m router ROLE` processes of this checkout, each in a process group of its
    own (a worker's pool and `router up`'s children stop with it)."""

    def __init__(
        self, directory: Path, redis_url: str, smtp_port: int, rules_dir: Path, **settings: str
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # PYTHONPATH first: the venv may hold an editable install of another checkout.
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.env = {
            **os.environ,
            "PYTHONPATH": path,
            "REDIS_URL": redis_url,
            "ROUTER_API_TOKENS": TOKEN,
            "ROUTER_SECRET_KEY": SECRET_KEY,
            "ROUTER_RULES_DIR": str(rules_dir),
            "ROUTER_PUBLIC_URL": self.url,
            "ROUTER_SMTP_HOST": "127.0.0.1",
            "ROUTER_SMTP_PORT": str(smtp_port),
            **SETTINGS,
            **settings,
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.directory / f"{role}-{len(self.processes)}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "router", role, *args],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def api(self, processes: int = 1) -> subprocess.Popen[bytes]:
        started = self.start("api", "--port", str(self.port), "--processes", str(processes))
        self.wait_healthy()
        return started

    def worker(self, concurrency: int, lane: str) -> subprocess.Popen[bytes]:
        return self.start("worker", "--concurrency", str(concurrency), "--lane", lane)

    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.start("scheduler")

    def up(self) -> subprocess.Popen[bytes]:
        """What `router up` starts: the api (two processes), a fold worker and a deliver
        worker (two pool processes each), an urgent-lane worker (one) and the scheduler."""
        started = self.start("up", "--port", str(self.port))
        self.wait_healthy()
        return started

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"bench: {process.args!r} stopped; see {self.directory}")
            return _ready(f"{self.url}/healthz")

        wait_until(healthy, 60, "the router's api")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def cpu_s(pid: int) -> float:
    """User and system CPU time of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """CPU time every core of the machine has spent busy so far (user, nice, system,
    interrupts; not idle or waiting on I/O), from /proc/stat: everything a scenario's
    processes, the harness's and any other, used."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


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
