"""Bearer tokens for every /v1 endpoint, compared in constant time; an optional
per-token rate limit (ROUTER_RATE_LIMIT_PER_MIN, counted in Redis per minute)."""

from __future__ import annotations

import hmac
from typing import Annotated

import redis.asyncio
from fastapi import Header, HTTPException

from router import keys
from router.api.deps import AsyncRedisDep, RuntimeDep
from router.runtime import Runtime


def _token_index(header: str, runtime: RuntimeDep) -> int | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    found = None
    for index, known in enumerate(runtime.settings.api_tokens):
        # every token is compared, so the time taken does not say which one matched
        if hmac.compare_digest(token.encode(), known.get_secret_value().encode()):
            found = index
    return found


async def require_token(
    runtime: RuntimeDep, aredis: AsyncRedisDep, authorization: Annotated[str, Header()] = ""
) -> str:
    return await authorize(runtime, aredis, authorization)


async def authorize(runtime: Runtime, aredis: redis.asyncio.Redis, authorization: str) -> str:
    """Who sent the request ("token N"); 401 without a known token, 429 over the limit."""
    index = _token_index(authorization, runtime)
    if index is None:
        raise HTTPException(
            status_code=401,
            detail="missing or wrong credential: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
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
    return f"token {index + 1}"
