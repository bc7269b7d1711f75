"""The Redis commands the router queues on a pipeline or MULTI, as a Protocol.

A redis-py client, a pipeline and a MULTI transaction all satisfy it: code that writes
takes a `Pipe`, and the caller decides when (and in which transaction) the commands run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

Value = str | bytes | int | float


class Pipe(Protocol):
    """The write commands the router uses; results are the client's own (ignored)."""

    def execute_command(self, *args: Value) -> object: ...

    def rpush(self, name: str, *values: Value) -> object: ...

    def lpush(self, name: str, *values: Value) -> object: ...

    def ltrim(self, name: str, start: int, end: int) -> object: ...

    def hset(
        self,
        name: str,
        key: str | None = None,
        value: Value | None = None,
        *,
        items: Sequence[Value] | None = None,
    ) -> object:
        """One field, or many: `items` is field, value, field, value, ..."""

    def hdel(self, name: str, *keys: str) -> object: ...

    def hincrby(self, name: str, key: str, amount: int = 1) -> object: ...

    def hincrbyfloat(self, name: str, key: str, amount: float = 1.0) -> object: ...

    def zadd(self, name: str, mapping: Mapping[str, float]) -> object: ...

    def zrem(self, name: str, *values: str) -> object: ...

    def sadd(self, name: str, *values: Value) -> object: ...

    def incr(self, name: str, amount: int = 1) -> object: ...

    def delete(self, *names: str) -> object: ...

    def expire(self, name: str, time: int) -> object: ...
