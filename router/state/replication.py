"""Where the master is and how far its replicas are behind, for /readyz."""

from __future__ import annotations

from dataclasses import dataclass

import redis
import redis.sentinel

from router.state.keys import FAILOVERS, REPLICA_PROBE


class ReplicaShortfall(redis.RedisError):
    """The write is on the master, but fewer replicas confirmed it in time than asked
    for (ROUTER_REDIS_MIN_REPLICAS): a failover now could lose it, so it is not accepted."""

    def __init__(self, confirmed: int, wanted: int, wait_ms: int) -> None:
        super().__init__(
            f"{confirmed} of {wanted} replica(s) confirmed the write within {wait_ms} ms"
        )


@dataclass(frozen=True)
class Replicas:
    """How many replicas must confirm a write (ROUTER_REDIS_MIN_REPLICAS) and how long
    a WAIT waits for them (ROUTER_REDIS_WAIT_MS); 0 replicas: no WAIT."""

    required: int = 0
    wait_ms: int = 1000


NO_REPLICAS = Replicas()


def confirmed_count(reply: object) -> int:
    return int(reply) if isinstance(reply, int | str | bytes) else 0


def shortfall(reply: object, replicas: int, wait_ms: int) -> ReplicaShortfall | None:
    """What a WAIT's `reply` lacks of `replicas` confirmations, if anything."""
    count = confirmed_count(reply)
    return ReplicaShortfall(count, replicas, wait_ms) if count < replicas else None


def asked(replicas: int, online: int) -> int:
    """How many replicas a WAIT asks for: every replica online, and at least `replicas`.
    A failover may promote any of them (Sentinel picks by replication offsets up to
    seconds old), and one that had not confirmed a write loses it: the failover soak
    lost a batch that one of two replicas had confirmed. Confirming needs `replicas`."""
    return max(replicas, online)


def online_replicas(info: dict[str, object]) -> int:
    """Replicas in sync, from INFO replication."""
    return sum(
        1
        for key, value in info.items()
        if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )


def confirm(client: redis.Redis, replicas: int, wait_ms: int, online: int = 0) -> None:
    """Raise ReplicaShortfall unless `replicas` replicas hold every write made so far,
    on any connection; wait for up to `online` (see `asked`). WAIT waits for its own
    connection's writes, and a pooled client's last write may have gone over another
    one; so this connection writes once more (REPLICA_PROBE) and waits for that: a
    replica applies the stream in order, so holding the probe means holding all that
    came before it."""
    if replicas <= 0:
        return
    with client.pipeline(transaction=False) as pipe:
        pipe.incr(REPLICA_PROBE)
        pipe.execute_command("WAIT", asked(replicas, online), wait_ms)  # type: ignore[no-untyped-call]
        _, reply = pipe.execute()
    short = shortfall(reply, replicas, wait_ms)
    if short is not None:
        raise short


def master_address(client: redis.Redis) -> str:
    """host:port of the server this client writes to: for a Sentinel URL, the master the
    Sentinels name now (one question to them)."""
    pool = client.connection_pool
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):
        host, port = pool.get_master_address()  # type: ignore[no-untyped-call]
        return f"{host}:{port}"
    options = pool.connection_kwargs
    return str(options.get("path") or f"{options.get('host')}:{options.get('port')}")


def replication(client: redis.Redis) -> dict[str, object]:
    """The master, its role as it says itself, and each replica: its address, its state,
    the seconds since it last confirmed (`lag_s`) and the bytes it has yet to apply."""
    info = client.info("replication")
    offset = int(info.get("master_repl_offset", 0))
    replicas = [
        {
            "address": f"{value['ip']}:{value['port']}",
            "state": value.get("state"),
            "lag_s": value.get("lag"),
            "bytes_behind": max(0, offset - int(value.get("offset", 0))),
        }
        for key, value in sorted(info.items())
        if key.startswith("slave") and isinstance(value, dict)
    ]
    return {
        "master": master_address(client),
        "role": info.get("role"),
        "replicas": replicas,
        "failovers_seen": int(client.scard(FAILOVERS)),
    }
