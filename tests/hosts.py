"""Three test hosts on one machine, for the drills that lose a machine (issue 20).

Each host is a network namespace of the test's own, with a veth pair into a bridge the
test makes, and an address of its own (10.213.K.1-3, K from the test's pid so that
drills running side by side do not meet). The test's side of the bridge is 10.213.K.254:
the drills' SMTP server listens there, and the test reaches the API through it. Every
host runs a redis-server and a Sentinel; one of the servers starts as the master, the
others as its replicas, with the shipped settings (docker-compose.sentinel.yml):
`min-replicas-to-write 1`, so a master cut off from every replica stops taking writes.

`cut(host)` sets the host's link down: its processes keep running and can reach each
other, but nothing else, as when a machine's network fails. `mend(host)` brings it
back.

Where namespaces cannot be made (not root, no `ip netns`), the hosts are loopback
ports of this machine, and `cut` stops every process of the host with SIGSTOP (the
others see it answer nothing, as over a cut link; `mend` is SIGCONT). `mode` says
which ran, and the drills print it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.redis_server import RedisServer, _free_port
from tests.sentinel import SERVICE, start_sentinel
from tests.stack import wait_until

NAMESPACES = "network namespaces"
LOOPBACK = "loopback ports"
# The shipped Sentinel settings (docker-compose.sentinel.yml), but quicker to notice a
# master gone: 2 s, not 5 s.
DOWN_AFTER_MS = 2000
MIN_REPLICAS_MAX_LAG_S = 5


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["ip", *args], check=check, capture_output=True)


def namespaces_work() -> bool:
    """Root with `ip netns`: the hosts get namespaces of their own (unless
    AR_TEST_HOSTS=loopback asks for the fallback)."""
    if os.environ.get("AR_TEST_HOSTS") == "loopback":
        return False
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"arprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False).returncode == 0
    if made:
        _ip("netns", "del", probe, check=False)
    return made


@dataclass
class Host:
    number: int
    address: str
    namespace: str | None
    directory: Path
    redis_port: int
    sentinel_port: int
    redis: RedisServer | None = None
    sentinel: subprocess.Popen[bytes] | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def prefix(self) -> tuple[str, ...]:
        """What runs a process on this host."""
        return ("ip", "netns", "exec", self.namespace) if self.namespace else ()

    @property
    def redis_address(self) -> str:
        return f"{self.address}:{self.redis_port}"


def _caught_up(info: dict[str, object]) -> bool:
    offset = info["master_repl_offset"]
    replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
    return bool(replicas) and all(replica["offset"] == offset for replica in replicas)


class Hosts:
    def __init__(self, directory: Path, count: int = 3) -> None:
        self.directory = directory
        self.mode = NAMESPACES if namespaces_work() else LOOPBACK
        tag = os.getpid() % 100_000
        subnet = f"10.213.{tag % 250}"
        self.bridge = f"ar{tag}br"
        self.gateway = f"{subnet}.254" if self.mode == NAMESPACES else "127.0.0.1"
        self.hosts = [
            Host(
                number,
                f"{subnet}.{number}" if self.mode == NAMESPACES else "127.0.0.1",
                f"ar{tag}h{number}" if self.mode == NAMESPACES else None,
                directory / f"host{number}",
                6379 if self.mode == NAMESPACES else _free_port(),
                26379 if self.mode == NAMESPACES else _free_port(),
            )
            for number in range(1, count + 1)
        ]
        self._links_made = False

    def __getitem__(self, number: int) -> Host:
        return self.hosts[number - 1]

    def url(self, db: int = 0) -> str:
        sentinels = ",".join(f"{host.address}:{host.sentinel_port}" for host in self.hosts)
        return f"redis+sentinel://{sentinels}/{SERVICE}/{db}"

    # -- the network ---------------------------------------------------------------------

    def _veth(self, host: Host) -> str:
        return f"{self.bridge[:-2]}v{host.number}"

    def _make_links(self) -> None:
        if self.mode != NAMESPACES:
            return
        self._links_made = True
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for host in self.hosts:
            assert host.namespace
            veth = self._veth(host)
            _ip("netns", "add", host.namespace)
            _ip(
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace
            )
            _ip("link", "set", veth, "master", self.bridge)
            _ip("link", "set", veth, "up")
            inside = ("netns", "exec", host.namespace, "ip")
            _ip(*inside, "addr", "add", f"{host.address}/24", "dev", "eth0")
            _ip(*inside, "link", "set", "eth0", "up")
            _ip(*inside, "link", "set", "lo", "up")

    def cut(self, host: Host) -> None:
        """The host's network fails: nothing reaches it, and it reaches nothing else."""
        if self.mode == NAMESPACES:
            _ip("link", "set", self._veth(host), "down")
        else:
            for pid in self._pids(host):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGSTOP)

    def mend(self, host: Host) -> None:
        if self.mode == NAMESPACES:
            _ip("link", "set", self._veth(host), "up")
        else:
            for pid in self._pids(host):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGCONT)

    def _pids(self, host: Host) -> list[int]:
        running = [host.redis.process if host.redis else None, host.sentinel, *host.processes]
        return [p.pid for p in running if p is not None and p.poll() is None]

    # -- Redis and the Sentinels ---------------------------------------------------------

    def start(self, master: int) -> Hosts:
        """Every host's redis-server, `master` the master, then every host's Sentinel;
        ready once the Sentinels agree on the master and every replica confirms a write."""
        self._make_links()
        first = self[master]
        for host in sorted(self.hosts, key=lambda h: h is not first):  # the master first
            follow = () if host is first else ("--replicaof", first.address, str(first.redis_port))
            host.redis = RedisServer(
                host.directory / "redis",
                host.redis_port,
                *follow,
                "--repl-diskless-sync-delay", "0",
                "--protected-mode", "no",  # the other hosts are not loopback
                "--min-replicas-to-write", "1",
                "--min-replicas-max-lag", str(MIN_REPLICAS_MAX_LAG_S),
                # a replica writing its first AOF refuses SIGTERM until it is done
                "--appendonly", "yes" if host is first else "no",
                # a replica must be seen at its own address, not the bridge's
                "--replica-announce-ip", host.address,
                host=host.address,
                prefix=host.prefix,
            ).start()  # fmt: skip
        for host in self.hosts:
            host.sentinel = start_sentinel(
                host.directory / "sentinel", host.address, host.sentinel_port,
                first.redis_port, first.address, DOWN_AFTER_MS, host.prefix,
            )  # fmt: skip
        wait_until(lambda: self.master() is first, 30, "the Sentinels to name the master")
        wait_until(lambda: self._agreed(len(self.hosts) - 1), 30, "the Sentinels to meet")
        wait_until(lambda: self._confirmed(first, len(self.hosts) - 1), 30, "every replica")
        return self

    def _sentinel(self, host: Host) -> redis.Redis:
        return redis.Redis(
            host=host.address, port=host.sentinel_port, socket_timeout=1, decode_responses=True
        )

    def master(self, asking: Sequence[Host] = ()) -> Host | None:
        """The host whose redis-server the Sentinels (those of `asking`, or any) name."""
        for host in asking or self.hosts:
            try:
                with self._sentinel(host) as sentinel:
                    address = sentinel.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            if address:
                named = f"{address[0]}:{address[1]}"
                return next((h for h in self.hosts if h.redis_address == named), None)
        return None

    def _agreed(self, others: int) -> bool:
        """Every Sentinel knows the others and the replicas."""
        for host in self.hosts:
            with self._sentinel(host) as sentinel:
                if len(sentinel.sentinel_sentinels(SERVICE)) < others:
                    return False
                if len(sentinel.sentinel_slaves(SERVICE)) < others:
                    return False
        return True

    @staticmethod
    def _confirmed(master: Host, replicas: int) -> bool:
        """`replicas` replicas confirm a write (right after its first sync a replica
        confirms nothing for up to a second)."""
        assert master.redis
        with master.redis.client() as client:
            client.incr("hosts:probe")
            return int(client.wait(replicas, 200)) >= replicas

    def failover(self, pause_writes_ms: int = 0) -> None:
        """A failover the Sentinels carry out (SENTINEL FAILOVER), asked of the first
        that answers. `pause_writes_ms`: first pause the master's writes (CLIENT PAUSE
        WRITE) for that long, and wait until every replica has its offset."""
        if pause_writes_ms:
            master = self.master()
            assert master is not None and master.redis is not None
            with master.redis.client() as client:
                client.execute_command("CLIENT PAUSE", pause_writes_ms, "WRITE")
                # every replica holds all the master wrote, whichever is promoted
                wait_until(lambda: _caught_up(client.info("replication")), 10, "the replicas")
        for host in self.hosts:
            try:
                with self._sentinel(host) as sentinel:
                    sentinel.execute_command("SENTINEL FAILOVER", SERVICE)
                    return
            except redis.RedisError:
                continue
        raise AssertionError("no Sentinel took SENTINEL FAILOVER")

    def new_master(self, old: Host, asking: Sequence[Host], timeout_s: float = 60) -> Host:
        """Wait for the Sentinels of `asking` to name a master other than `old` that
        says it is one."""

        def promoted() -> Host | None:
            host = self.master(asking)
            if host is None or host is old or host.redis is None:
                return None
            with host.redis.client() as client:
                role = client.execute_command("ROLE")
            return host if role[0] in (b"master", "master") else None

        found: Host = wait_until(promoted, timeout_s, "a new master")
        return found

    def rejoined(self, host: Host) -> bool:
        """`host`'s redis-server is a replica again, in sync."""
        assert host.redis
        try:
            with host.redis.client() as client:
                info = client.info("replication")
        except redis.RedisError:
            return False
        return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")

    def stop(self) -> None:
        for host in self.hosts:
            self.mend(host)  # a stopped process takes no SIGTERM
        for host in self.hosts:
            for process in [*host.processes, host.sentinel]:
                if process is not None and process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(10)
            if host.redis:
                host.redis.kill()
        if self._links_made:
            for host in self.hosts:
                _ip("link", "del", self._veth(host), check=False)
                _ip("netns", "del", str(host.namespace), check=False)
            _ip("link", "del", self.bridge, check=False)
