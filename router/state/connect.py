"""The Redis client of every process: redis-py, with hiredis packing each command.

redis-py's own packer (HiredisRespSerializer) runs each word of a command through its
Encoder in Python before hiredis packs them, about a microsecond a word: a page's
outcome script carries some forty words and a fold's MULTI thousands, and on the
bench's two cores that cost a page more CPU than its round trip to Redis
(docs/performance.md). hiredis.pack_command encodes str (UTF-8), int, float and bytes
itself, to the same bytes (tests/test_connect.py holds the two to one table).
"""

from __future__ import annotations

import hiredis
import redis


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


def client(url: str, **options: object) -> redis.Redis:
    """`redis.Redis.from_url(url, **options)` with the packer."""
    return redis.Redis.from_url(url, command_packer=HiredisPacker(), **options)
