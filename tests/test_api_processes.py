"""`router api --processes N` (router.processes.apiprocs): each process listens on a
socket of its own, so keep-alive connections spread over all of them, and a second api
on a port in use stops at once with a one-line error."""

from __future__ import annotations

import http.client
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment import Deployment
from tests.redis_server import RedisServer
from tests.stack import free_port, wait_until

CONNECTIONS = 16  # the bench's wrk connections


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def _servers(api: subprocess.Popen[bytes]) -> list[int]:
    """The api's server processes (not multiprocessing's resource tracker)."""
    return [
        pid
        for pid in Deployment.pool_children(api)
        if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def _established(pid: int, port: int, state: str = "01") -> int:
    """Connections to `port` that process `pid` holds, read from /proc (`state` 0A: its
    listening sockets)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                held += 1
    return held


def _listening(api: subprocess.Popen[bytes], port: int) -> list[int]:
    """The two server processes once each listens on its socket; [] before. Healthy is
    one of them answering: one spawned later has no socket yet, and the kernel gives
    every connection to the socket there is."""
    servers = _servers(api)
    if len(servers) == 2 and all(_established(pid, port, "0A") for pid in servers):
        return servers
    return []


def test_keep_alive_connections_spread_over_the_api_processes(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    deployment = Deployment(tmp_path, own_redis, free_port())
    connections = []
    try:
        api = deployment.api(processes=2)
        servers = wait_until(lambda: _listening(api, deployment.port), what="both listening")
        for _ in range(CONNECTIONS):
            connection = http.client.HTTPConnection("127.0.0.1", deployment.port, timeout=10)
            connection.request("GET", "/healthz")
            assert connection.getresponse().read() is not None
            connections.append(connection)
        held = [_established(pid, deployment.port) for pid in servers]
        # One shared socket gave one process all of them in about half the runs; with a
        # socket each, all on one is a chance of 2 in 65,536.
        assert sum(held) == CONNECTIONS and min(held) > 0, held
    finally:
        for connection in connections:
            connection.close()
        deployment.stop()


def test_a_second_api_on_a_port_in_use_stops_at_once(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    deployment = Deployment(tmp_path, own_redis, free_port())
    try:
        deployment.api(processes=2)
        second = deployment.start("api", "--port", str(deployment.port), "--processes", "2")
        wait_until(lambda: second.poll() is not None, timeout_s=30, what="the second api to stop")
        assert second.returncode != 0
        text = (deployment.directory / "api-1.log").read_text()
        said = f"error: port {deployment.port} on 127.0.0.1 is in use by another router (pid "
        assert said in text and "`router api --port" in text, text
    finally:
        deployment.stop()
