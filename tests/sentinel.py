"""A Redis master with a replica, watched by three Sentinels, on loopback ports the test
owns: what `REDIS_URL=redis+sentinel://...` points at, and a failover on demand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import redis
import redis.sentinel

from tests.redis_server import RedisServer, _free_port
from tests.stack import wait_until

SERVICE = "mymaster"


def start_sentinel(
    folder: Path,
    address: str,
    port: int,
    master_port: int,
    master_address: str = "127.0.0.1",
    down_after_ms: int = 1000,
    prefix: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """A Sentinel on `address:port` watching SERVICE at `master_address:master_port`
    (quorum 2), in its own process group; `prefix` runs it (tests.hosts)."""
    binary = shutil.which("redis-server")
    assert binary
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "sentinel.conf"  # a Sentinel rewrites its own file
    config.write_text(
        f"port {port}\nbind {address}\nprotected-mode no\ndir {folder}\n"
        f"logfile {folder / 'sentinel.log'}\n"
        f"sentinel announce-ip {address}\n"
        f"sentinel monitor {SERVICE} {master_address} {master_port} 2\n"
        f"sentinel down-after-milliseconds {SERVICE} {down_after_ms}\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    return subprocess.Popen([*prefix, binary, str(config), "--sentinel"], start_new_session=True)


class SentinelGroup:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # No wait before a replica's first sync (Redis 7 waits 5 s for more replicas)
        self.master = RedisServer(directory / "master", None, "--repl-diskless-sync-delay", "0")
        self.replica = RedisServer(
            directory / "replica",
            None,
            "--replicaof", "127.0.0.1", str(self.master.port),
            "--repl-diskless-sync-delay", "0",
            # a replica writing its first AOF refuses SIGTERM until it is done
            "--appendonly", "no",
        )  # fmt: skip
        self.sentinel_ports = [_free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def start(self) -> SentinelGroup:
        self.master.start()
        self.replica.start()
        for number, port in enumerate(self.sentinel_ports):
            folder = self.directory / f"sentinel-{number}"
            self.sentinels.append(start_sentinel(folder, "127.0.0.1", port, self.master.port))
        wait_until(lambda: self.master_port() == self.master.port, 30, "the Sentinels")
        wait_until(lambda: self._replicas_known() >= 1, 30, "the Sentinels to see the replica")
        wait_until(self._replica_online, 30, "the replica's first sync")
        return self

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1, decode_responses=True)

    def master_port(self) -> int | None:
        for port in self.sentinel_ports:
            try:
                with self._sentinel(port) as sentinel:
                    address = sentinel.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            if address:
                return int(address[1])
        return None

    def _replica_online(self) -> bool:
        """Synced, and confirming a write (right after its first sync a replica confirms
        nothing for up to a second)."""
        with redis.Redis(port=self.master.port, decode_responses=True) as master:
            replica = master.info("replication").get("slave0")
            online = isinstance(replica, dict) and replica.get("state") == "online"
            return online and master.incr("sentinel-group:probe") > 0 and master.wait(1, 100) == 1

    def _replicas_known(self) -> int:
        with self._sentinel(self.sentinel_ports[0]) as sentinel:
            return len(sentinel.sentinel_slaves(SERVICE))

    def failover(self) -> int:
        """A failover the Sentinels carry out (SENTINEL FAILOVER): the replica becomes the
        master. Returns the new master's port once it takes writes."""
        old = self.master_port()

        def asked() -> bool:
            with self._sentinel(self.sentinel_ports[0]) as sentinel:
                try:
                    return bool(sentinel.execute_command("SENTINEL FAILOVER", SERVICE))
                except redis.ResponseError as error:  # a replica not yet seen in sync
                    if "NOGOODSLAVE" in str(error):
                        return False
                    raise

        wait_until(asked, 30, "a Sentinel to take SENTINEL FAILOVER")

        def promoted() -> int | None:
            port = self.master_port()
            if port is None or port == old:
                return None
            with redis.Redis(port=port, socket_timeout=1) as new:
                role = new.execute_command("ROLE")
            return port if role[0] in (b"master", "master") else None

        port: int = wait_until(promoted, 30, "a new master")
        # redis-py's clients read SENTINEL MASTERS, where the Sentinel that led the
        # failover names the old master until its failover ends
        watchers = redis.sentinel.Sentinel(
            [("127.0.0.1", p) for p in self.sentinel_ports], socket_timeout=1
        )

        def agreed() -> bool:
            try:
                return bool(watchers.discover_master(SERVICE)[1] == port)
            except redis.ConnectionError:  # none names a master that is up, for now
                return False

        wait_until(agreed, 30, "the Sentinels to agree")
        return port

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.terminate()
        for sentinel in self.sentinels:
            sentinel.wait(10)
        self.replica.stop()
        self.master.stop()
