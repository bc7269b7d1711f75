"""Typed access to what every endpoint needs, so mypy checks the API layer too. The
dependencies are coroutines: a plain function would cost each request a thread hop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import jinja2
import redis.asyncio
from fastapi import Depends, FastAPI, Request
from starlette.requests import HTTPConnection

from router.queue.tasks import AsyncSend
from router.service.runtime import Runtime
from router.state.publish import LoopRedis
from router.state.sessions import Logins


@dataclass(frozen=True)
class ApiState:
    """What the API's endpoints share, set once by router.api.app.create_api."""

    runtime: Runtime
    async_redis: LoopRedis
    send: AsyncSend
    console_templates: jinja2.Environment
    logins: Logins


def attach(app: FastAPI, state: ApiState) -> None:
    app.state.api = state


def state_of(request: HTTPConnection) -> ApiState:
    """The one place that reads the app's state: everything else is typed."""
    state: ApiState = request.app.state.api
    return state


async def get_runtime(request: Request) -> Runtime:
    return state_of(request).runtime


async def get_send(request: Request) -> AsyncSend:
    return state_of(request).send


async def get_async_redis(request: Request) -> redis.asyncio.Redis:
    return state_of(request).async_redis()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SendDep = Annotated[AsyncSend, Depends(get_send)]
AsyncRedisDep = Annotated[redis.asyncio.Redis, Depends(get_async_redis)]
