"""A redis-server the tests own: the session's (started once, on a free port) and the
drills' own, which they kill and restart."""

from __future__ import annotations

import atexit
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import redis


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """`redis-server` on 127.0.0.1 with its append-only file on (everysec), as production
    should run it. `kill()` is SIGKILL; `start()` again brings the same data back."""

    def __init__(
        self,
        directory: Path | None = None,
        port: int | None = None,
        *more: str,
        host: str = "127.0.0.1",
        prefix: Sequence[str] = (),
    ) -> None:
        """`more`: further redis-server options (a replica's --replicaof); `host`: the
        address it listens on; `prefix`: what runs it (`ip netns exec NAME` for a test
        host of tests.hosts)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (.ci/run installs it with apt-get)"
        self.binary = binary
        self.directory = directory or Path(tempfile.mkdtemp(prefix="ar-redis-"))
        self.port = port or _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.more = more
        self.host, self.prefix = host, tuple(prefix)

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(self.url(db))

    def start(self) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            *self.prefix,
            self.binary,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--appendonly", "yes",
            "--save", "",
            "--databases", "16",
            "--logfile", str(self.directory / "redis.log"),
            *self.more,
        ]  # fmt: skip
        # its own process group: tests.hosts stops a host's processes by group
        self.process = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with self.client() as probe:
                    if probe.ping():
                        return self
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


_session: RedisServer | None = None


def session_redis() -> RedisServer:
    """The test session's own Redis, started on first use and stopped at exit."""
    global _session
    if _session is None:
        _session = RedisServer().start()
        atexit.register(_session.stop)
    return _session


def flushed_db(db: int) -> Iterator[redis.Redis]:
    """A client of database `db` of the session's Redis, empty before and after: what a
    test file's `client` fixture yields."""
    found = session_redis().client(db)
    found.flushdb()
    yield found
    found.flushdb()
    found.close()
