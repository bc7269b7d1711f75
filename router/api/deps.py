"""Typed access to what every endpoint needs, so mypy checks the API layer too. The
dependencies are coroutines: a plain function would cost each request a thread hop."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio
from fastapi import Depends, Request

from router.publish import LoopRedis
from router.runtime import Runtime
from router.tasks import AsyncSend


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_send(request: Request) -> AsyncSend:
    send: AsyncSend = request.app.state.send
    return send


async def get_async_redis(request: Request) -> redis.asyncio.Redis:
    clients: LoopRedis = request.app.state.async_redis
    return clients()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SendDep = Annotated[AsyncSend, Depends(get_send)]
AsyncRedisDep = Annotated[redis.asyncio.Redis, Depends(get_async_redis)]
