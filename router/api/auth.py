"""Who is asking: a bearer token (compared in constant time, optionally named:
ROUTER_API_TOKENS=kshama=tok1,airflow=tok2) or a console session. An optional per-token
rate limit (ROUTER_RATE_LIMIT_PER_MIN, counted in Redis per minute). A session writes
through /v1 only with its CSRF token in X-CSRF-Token."""

from __future__ import annotations

import hmac
import re
from typing import Annotated

import redis.asyncio
from fastapi import Depends, Header, HTTPException, Request

from router import keys
from router.api.deps import AsyncRedisDep, RuntimeDep
from router.runtime import Runtime
from router.sessions import COOKIE, Session, find_session

_NAMED = re.compile(r"([A-Za-z][\w.@-]*)=([^=].*)")


def token_parts(configured: str) -> tuple[str | None, str]:
    """`name=secret` or a bare secret (a secret ending in `=` padding stays bare)."""
    named = _NAMED.fullmatch(configured)
    return (named.group(1), named.group(2)) if named else (None, configured)


def _token_index(header: str, runtime: RuntimeDep) -> tuple[int, str | None] | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    found = None
    for index, known in enumerate(runtime.settings.api_tokens):
        name, secret = token_parts(known.get_secret_value())
        # every token is compared, so the time taken does not say which one matched
        if hmac.compare_digest(token.encode(), secret.encode()):
            found = (index, name)
    return found


async def require_token(
    runtime: RuntimeDep, aredis: AsyncRedisDep, authorization: Annotated[str, Header()] = ""
) -> str:
    return await authorize(runtime, aredis, authorization)


async def authorize(runtime: Runtime, aredis: redis.asyncio.Redis, authorization: str) -> str:
    """Who sent the request (the token's name, else "token N"); 401 without a known
    token, 429 over the limit."""
    found = _token_index(authorization, runtime)
    if found is None:
        raise HTTPException(
            status_code=401,
            detail="missing or wrong credential: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    index, name = found
    limit = runtime.settings.rate_limit_per_min
    if limit:
        now_s = int(runtime.clock.now().timestamp())
        key = keys.ratelimit(str(index), now_s // 60)
        async with aredis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, 120)
            count = int((await pipe.execute())[0])
        if count > limit:
            raise HTTPException(
                status_code=429,
                detail=f"rate limit: {limit} requests a minute for this token",
                headers={"Retry-After": str(60 - now_s % 60)},
            )
    return name or f"token {index + 1}"


async def session_of(request: Request) -> Session | None:
    session: Session | None = await find_session(
        request.app.state.async_redis(), request.cookies.get(COOKIE)
    )
    return session


async def require_reader(request: Request, runtime: RuntimeDep, aredis: AsyncRedisDep) -> str:
    """A token or a session: who is reading."""
    header = request.headers.get("authorization")
    if header:
        return await authorize(runtime, aredis, header)
    session = await session_of(request)
    if session is None:
        raise HTTPException(
            status_code=401,
            detail="missing credential: sign in at /login, or send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return session.person


async def require_writer(request: Request, runtime: RuntimeDep, aredis: AsyncRedisDep) -> str:
    """A token, or a session whose CSRF token is in X-CSRF-Token: who is changing."""
    who = await require_reader(request, runtime, aredis)
    if request.headers.get("authorization"):
        return who
    session = await session_of(request)
    sent = request.headers.get("x-csrf-token", "")
    if session is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    return who


Reader = Annotated[str, Depends(require_reader)]
Writer = Annotated[str, Depends(require_writer)]
