"""Where the master is and how far its replicas are behind, for /readyz."""

from __future__ import annotations

import redis
import redis.sentinel


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
    return {"master": master_address(client), "role": info.get("role"), "replicas": replicas}
