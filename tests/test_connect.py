"""The packer every process's Redis client uses packs each command to the bytes
redis-py's own packer makes (router.state.connect)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from router.state.connect import HiredisPacker, client
from tests.redis_server import session_redis

# redis-py's own packer beside ours; a Connection connects only when a command is sent
_REDIS_PY = redis.Connection()  # type: ignore[no-untyped-call]
_OURS = redis.Connection(command_packer=HiredisPacker())  # type: ignore[no-untyped-call]

COMMANDS: list[tuple[Any, ...]] = [
    ("PING",),
    ("SET", "ar:incident:1", '{"summary":"ünïcode ключ 🚨"}', "EX", 86400),
    ("HINCRBY", "ar:metrics", "router_messages_sent|kind=page", 1),
    ("HINCRBYFLOAT", "ar:metrics", "lateness|sum=", 0.127024),
    ("ZADD", "ar:timers", 1733500000.123456, "step:abc:0:1"),
    ("ZADD", "ar:timers", 1e-07, "m", -0.0, "n", 1.5e300, "o", float("inf"), "p"),
    ("SET", "big", 2**64 - 1),
    ("SET", "small", -(2**63)),
    ("SET", b"raw", b"\x00\xff\r\n"),
    ("SET", "view", memoryview(b"bytes")),
    ("SCRIPT LOAD", "return 1"),  # a two-word command name: two words
    (b"CLIENT SETNAME", b"router"),
    ("SET", "empty", ""),
]


def _packed(connection: redis.Connection, *command: Any) -> bytes:
    return b"".join(connection.pack_command(*command))  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: str(command[0]))
def test_packs_each_command_as_redis_py_does(command: tuple[Any, ...]) -> None:
    assert _packed(_OURS, *command) == _packed(_REDIS_PY, *command)


@pytest.mark.parametrize("word", [True, None, ["a"]])
def test_refuses_what_redis_py_refuses_with_its_error(word: object) -> None:
    with pytest.raises(redis.DataError):
        _packed(_REDIS_PY, "SET", "k", word)
    with pytest.raises(redis.DataError, match=f"cannot send a {type(word).__name__} to Redis"):
        _packed(_OURS, "SET", "k", word)


def test_the_client_talks_to_redis_with_it() -> None:
    talking = client(session_redis().url(15))
    talking.set("ar:test:ключ", "ünï", ex=60)
    assert talking.get("ar:test:ключ") == "ünï".encode()
    script = talking.register_script("return {ARGV[1], tonumber(ARGV[2]) * 2}")
    assert script(keys=[], args=["word", 21]) == [b"word", 42]  # SCRIPT LOAD, EVALSHA
