"""Who is asking: a bearer token (compared in constant time, optionally named:
ROUTER_API_TOKENS=kshama=tok1,airflow=tok2) or a console session. An optional per-token
rate limit (ROUTER_RATE_LIMIT_PER_MIN, counted in Redis per minute). A session writes
through /v1 only with its CSRF token in X-CSRF-Token.

And what they may do (docs/api.md, "Roles"): engineers act on incidents and the roster;
analysts read and add notes. A session's role is its person's in team.yaml (anyone
signed in who is not an engineer there has an analyst's rights). A token is an
operator's or an integration's, with an engineer's rights, unless it is named after an
analyst (their email address, or their name): then it has that analyst's. Routes say
which they need with a dependency: Reader, Writer (notes) or Engineer here, and the
console's forms with router.api.console.pages.engineer_form; both ask `role_of`."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated, Literal

import redis.asyncio
from fastapi import Depends, Header, HTTPException, Request

from router.api.deps import AsyncRedisDep, RuntimeDep, state_of
from router.core.rules import Rules
from router.service.runtime import Runtime
from router.state import keys
from router.state.sessions import COOKIE, Session, find_session

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


Role = Literal["engineer", "analyst"]
ENGINEERS_ONLY = "engineers only"


@dataclass(frozen=True)
class Caller:
    """Who is asking, as their changes are recorded, and with which rights."""

    name: str
    role: Role


def role_of(rules: Rules, person: str, token: bool = False) -> Role:
    """A session's person is an engineer if team.yaml lists them so; a token is, unless
    it is named after an analyst (email address or name, any case)."""
    if token:
        analysts = {n.lower() for a in rules.team.analysts for n in (a.name, str(a.email))}
        return "analyst" if person.lower() in analysts else "engineer"
    return "engineer" if any(p.name == person for p in rules.team.engineers) else "analyst"


def engineers_only(caller: Caller) -> str:
    """Why `caller` may not do an engineer's action (the 403's message)."""
    return (
        f"{ENGINEERS_ONLY}: {caller.name} has an analyst's rights, to read and add notes "
        "(docs/api.md, Roles)"
    )


async def require_token(
    runtime: RuntimeDep, aredis: AsyncRedisDep, authorization: Annotated[str, Header()] = ""
) -> str:
    return await authorize(runtime, aredis, authorization)


async def authorize(runtime: Runtime, aredis: redis.asyncio.Redis, authorization: str) -> str:
    """Who sends events (the token's name, else "token N"): a token with an engineer's
    rights, since an event acknowledges and resolves too; 401 without a known token, 429
    over the limit, 403 for an analyst's token."""
    caller = await token_caller(runtime, aredis, authorization)
    if caller.role != "engineer":
        raise HTTPException(status_code=403, detail=engineers_only(caller))
    return caller.name


async def token_caller(runtime: Runtime, aredis: redis.asyncio.Redis, authorization: str) -> Caller:
    """The token's caller; 401 without a known token, 429 over the limit."""
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
    role = role_of(runtime.rules, name, token=True) if name else "engineer"
    return Caller(name or f"token {index + 1}", role)


async def session_of(request: Request) -> Session | None:
    session: Session | None = await find_session(
        state_of(request).async_redis(), request.cookies.get(COOKIE)
    )
    return session


async def _caller(
    request: Request, runtime: Runtime, aredis: redis.asyncio.Redis, writes: bool
) -> Caller:
    """A token's caller, or a session's (with its CSRF token in X-CSRF-Token when it
    `writes`); 401 without either."""
    header = request.headers.get("authorization")
    if header:
        return await token_caller(runtime, aredis, header)
    session = await session_of(request)
    if session is None:
        raise HTTPException(
            status_code=401,
            detail="missing credential: sign in at /login, or send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    sent = request.headers.get("x-csrf-token", "")
    if writes and not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
    return Caller(session.person, role_of(runtime.rules, session.person))


async def require_reader(request: Request, runtime: RuntimeDep, aredis: AsyncRedisDep) -> str:
    """A token or a session: who is reading."""
    return (await _caller(request, runtime, aredis, writes=False)).name


async def require_writer(request: Request, runtime: RuntimeDep, aredis: AsyncRedisDep) -> str:
    """A token, or a session whose CSRF token is in X-CSRF-Token: who is changing (what
    everyone may change: notes)."""
    return (await _caller(request, runtime, aredis, writes=True)).name


async def require_engineer(request: Request, runtime: RuntimeDep, aredis: AsyncRedisDep) -> str:
    """A writer with an engineer's rights: who acts on an incident or the roster; 403
    for an analyst, before anything is read or written."""
    caller = await _caller(request, runtime, aredis, writes=True)
    if caller.role != "engineer":
        raise HTTPException(status_code=403, detail=engineers_only(caller))
    return caller.name


Reader = Annotated[str, Depends(require_reader)]
Writer = Annotated[str, Depends(require_writer)]
Engineer = Annotated[str, Depends(require_engineer)]
