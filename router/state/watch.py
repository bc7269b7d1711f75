"""What every router process watches on Redis once a second, beside its work (issue 20).

- **The master the Sentinels name.** When it changes, this process drops its idle
  connections to the old one at once (redis-py's SentinelConnectionPool does so when
  asked for the address), instead of each failing its next command after
  SOCKET_TIMEOUT_S, as a connection to a host cut off would. The failover is counted
  once for the whole deployment, however many processes see it: FAILOVERS holds the
  replication ID of each master seen taking over, which a promotion changes.
- **The replicas in sync**, which a write a person or a sender is told is safe waits
  for (router.state.replication.asked).
- **Redis's clock.** Due times, leases and deadlines are judged by one clock for the
  deployment, Redis's TIME, as GoAlert judges by its database's now(): RedisClock is
  this process's clock plus the offset measured here. A machine whose clock is 300 s
  off then sends nothing 300 s late. Each process writes its offset to CLOCK_OFFSETS
  for /readyz and /metrics, and logs one over SKEW_WARN_S.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import redis
import redis.sentinel

from router.state.keys import CLOCK_OFFSETS, FAILOVERS
from router.state.replication import online_replicas

log = logging.getLogger(__name__)
EVERY_S = 1.0
SKEW_WARN_S = 2.0
SHOWN_FOR_S = 60.0
"""An offset not measured again within this is of a process that stopped."""
_KEPT_S = 3600.0
_PRUNE_EVERY = 600  # ticks


class RedisClock:
    """The shell's Clock: this machine's time corrected by its offset from Redis's TIME
    (0 until first measured). Reading it costs no round trip."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)

    def measure(self, client: redis.Redis) -> float:
        """Redis's TIME against this machine's, half the round trip taken as the time
        the reply was made."""
        before = time.time()
        seconds, micros = client.time()
        after = time.time()
        self.offset_s = seconds + micros / 1e6 - (before + after) / 2
        return self.offset_s


class Watch:
    """One daemon thread a process (started again after a fork: the thread is not
    inherited), ticking every EVERY_S. The first tick is made before `start` returns,
    so that a process whose clock is ahead claims no timer early."""

    def __init__(self, client: redis.Redis, clock: RedisClock | None) -> None:
        self.client, self.clock = client, clock
        self.master: tuple[str, int] | None = None
        self.replicas_online = 0
        """As of the last tick: what a WAIT asks for (router.state.replication.asked)."""
        self.name = ""
        self._pid: int | None = None
        self._skewed = False
        self._ticks = 0

    def start(self, role: str) -> None:
        """`role`: what the process is (api, worker, scheduler), for CLOCK_OFFSETS."""
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self.name = f"{role} {socket.gethostname()} pid {self._pid}"
        self.tick()
        threading.Thread(target=self._run, name="redis-watch", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(EVERY_S)
            self.tick()

    def tick(self) -> None:
        try:
            self._check_master()
            self.replicas_online = online_replicas(self.client.info("replication"))
            if self.clock is not None:
                self._check_skew(self.clock.measure(self.client))
        except redis.RedisError as error:  # no master now: the next tick asks again
            log.debug("redis watch: %s", error)

    def _check_master(self) -> None:
        pool = self.client.connection_pool
        if not isinstance(pool, redis.sentinel.SentinelConnectionPool):
            return
        host, port = pool.get_master_address()  # type: ignore[no-untyped-call]
        address = (str(host), int(port))
        if self.master is not None and address != self.master:
            log.warning(
                "Redis failover: the master is now %s:%d (was %s:%d)", *address, *self.master
            )
            self.client.sadd(FAILOVERS, str(self.client.info("replication")["master_replid"]))
        self.master = address

    def _check_skew(self, offset_s: float) -> None:
        measured_at = time.time() + offset_s
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hset(CLOCK_OFFSETS, self.name, f"{offset_s:.6f} {measured_at:.3f}")
            if self._ticks % _PRUNE_EVERY == 0:
                pipe.hgetall(CLOCK_OFFSETS)
            replies = pipe.execute()
        self._ticks += 1
        if len(replies) > 1:
            gone = [
                name for name, (_, at) in _read(replies[1]).items() if at < measured_at - _KEPT_S
            ]
            if gone:
                self.client.hdel(CLOCK_OFFSETS, *gone)
        skewed = abs(offset_s) > SKEW_WARN_S
        if skewed and not self._skewed:
            said = "behind" if offset_s > 0 else "ahead of"
            log.warning(
                "this machine's clock is %.1f s %s Redis's: the router goes by Redis's",
                abs(offset_s),
                said,
            )
        self._skewed = skewed


def _read(stored: Mapping[bytes | str, bytes | str]) -> dict[str, tuple[float, float]]:
    read = {}
    for name, value in stored.items():
        offset, _, at = _text(value).partition(" ")
        read[_text(name)] = (float(offset), float(at))
    return read


def _text(word: bytes | str) -> str:
    return word.decode() if isinstance(word, bytes) else word


def offsets(client: redis.Redis, now: datetime) -> dict[str, float]:
    """Each running process's clock against Redis's, in seconds (positive: behind)."""
    fresh_after = now.timestamp() - SHOWN_FOR_S
    stored = _read(client.hgetall(CLOCK_OFFSETS))
    return {name: offset for name, (offset, at) in sorted(stored.items()) if at >= fresh_after}
