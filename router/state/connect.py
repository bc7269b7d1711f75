"""The Redis client of every process: redis-py, with hiredis packing each command.

redis-py's own packer (HiredisRespSerializer) runs each word of a command through its
Encoder in Python before hiredis packs them, about a microsecond a word: a page's
outcome script carries some forty words and a fold's MULTI thousands, and on the
bench's two cores that cost a page more CPU than its round trip to Redis
(docs/performance.md). hiredis.pack_command encodes str (UTF-8), int, float and bytes
itself, to the same bytes (tests/test_connect.py holds the two to one table).
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis


class HiredisPacker:
    """A redis-py `command_packer`: the command's words packed in one C call."""

    def pack(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):
            first = first.encode()
        if b" " in first:  # as redis-py: a command name of two words ("SCRIPT LOAD")
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as error:  # a bool, None, a list: what redis-py's Encoder refuses
            raise redis.DataError(f"cannot send {args!r} to Redis: {error}") from None


def client(url: str, **options: Any) -> redis.Redis:
    """`redis.Redis.from_url(url, **options)` with the packer."""
    return redis.Redis.from_url(url, command_packer=HiredisPacker(), **options)
