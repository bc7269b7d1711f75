"""The Redis client of every process: redis-py, with hiredis packing each command.

redis-py's own packer (HiredisRespSerializer) runs each word of a command through its
Encoder in Python before hiredis packs them, about a microsecond a word: a page's
outcome script carries some forty words and a fold's MULTI thousands, and on the
bench's two cores that cost a page more CPU than its round trip to Redis
(docs/performance.md). hiredis.pack_command encodes str (UTF-8), int, float and bytes
itself, to the same bytes (tests/test_connect.py holds the two to one table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hiredis
import redis
import redis.asyncio
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.sentinel

from router.config.redis_url import (
    CONNECT_TIMEOUT_S,
    SENTINEL_TIMEOUT_S,
    SOCKET_TIMEOUT_S,
    Sentinels,
    is_sentinel,
    sentinels_of,
)


class HiredisPacker:
    """A redis-py `command_packer`: the command's words packed in one C call."""

    def pack(self, *args: object) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):
            first = first.encode()
        if isinstance(first, bytes) and b" " in first:  # as redis-py: "SCRIPT LOAD" is two words
            args = (*first.split(), *args[1:])
        try:
            # any word redis-py is handed: hiredis refuses what it cannot send (below)
            return [hiredis.pack_command(args)]  # type: ignore[arg-type]
        except TypeError:  # a bool, None, a list: what redis-py's Encoder refuses
            # the word's type, not the words: they may hold a password (AUTH)
            refused = next(type(word).__name__ for word in args if not _sendable(word))
            raise redis.DataError(f"cannot send a {refused} to Redis") from None


def _sendable(word: object) -> bool:
    return isinstance(word, str | bytes | float | memoryview) or (
        isinstance(word, int) and not isinstance(word, bool)
    )


TIMEOUTS: dict[str, Any] = {
    "socket_timeout": SOCKET_TIMEOUT_S,
    "socket_connect_timeout": CONNECT_TIMEOUT_S,
    "socket_keepalive": True,
}


def client(url: str, **options: Any) -> redis.Redis:
    """`redis.Redis.from_url(url, **options)` with the packer; for a Sentinel URL, the
    master its Sentinels name, found again after a failover (router.config.redis_url).
    `options` may shorten TIMEOUTS."""
    options = {**TIMEOUTS, **options}
    if not is_sentinel(url):
        return redis.Redis.from_url(url, command_packer=HiredisPacker(), **options)
    where = sentinels_of(url)
    master = _master_options(where)
    if where.tls:
        master["connection_class"] = redis.sentinel.SentinelManagedSSLConnection
    watchers = redis.sentinel.Sentinel(
        list(where.hosts), sentinel_kwargs=_sentinel_options(where), **master, **options
    )
    found = watchers.master_for(where.service, redis_class=_Watched, command_packer=HiredisPacker())
    assert isinstance(found, _Watched)
    found.watchers = watchers.sentinels
    return found


def async_client(url: str) -> redis.asyncio.Redis:
    """The asyncio client of `client` (the API's event loop): redis-py's own packer,
    which its asyncio connections keep."""
    if not is_sentinel(url):
        return redis.asyncio.Redis.from_url(url, **TIMEOUTS)
    where = sentinels_of(url)
    master = _master_options(where)
    if where.tls:
        master["connection_class"] = redis.asyncio.sentinel.SentinelManagedSSLConnection
    watchers = redis.asyncio.sentinel.Sentinel(
        list(where.hosts), sentinel_kwargs=_sentinel_options(where), **master, **TIMEOUTS
    )
    found = watchers.master_for(
        where.service, redis_class=_AsyncWatched, connection_pool_class=_FollowingPool
    )
    assert isinstance(found, _AsyncWatched)
    found.watchers = watchers.sentinels
    return found


class _Watched(redis.Redis):
    """A master's client that closes its connections to the Sentinels with its own."""

    watchers: Sequence[redis.Redis] = ()

    def close(self) -> None:
        super().close()
        for sentinel in self.watchers:
            sentinel.close()


class _FollowingPool(redis.asyncio.sentinel.SentinelConnectionPool):
    """A connection to an old master goes when it is released, as in redis-py's
    synchronous pool (its asyncio one keeps it: one in use whenever the master changed
    went on writing to the old master until that one hung up, ten seconds in the soak)."""

    async def release(self, connection: redis.asyncio.connection.AbstractConnection) -> None:
        # (its own owns_connection calls a method its base class lacks); closed before it
        # is back in the pool, where another request could take it
        address = (getattr(connection, "host", None), getattr(connection, "port", None))
        if self.master_address is not None and address != tuple(self.master_address):
            await connection.disconnect()
        await super().release(connection)


class _AsyncWatched(redis.asyncio.Redis):
    watchers: Sequence[redis.asyncio.Redis] = ()

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.watchers:
            await sentinel.aclose()


def _sentinel_options(where: Sentinels) -> dict[str, Any]:
    return {
        "password": where.sentinel_password,
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
    }


def _master_options(where: Sentinels) -> dict[str, Any]:
    return {"db": where.db, "username": where.username, "password": where.password}
