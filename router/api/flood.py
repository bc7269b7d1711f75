"""The per-integration limit: at most ROUTER_EVENTS_LIMIT events per
ROUTER_EVENTS_LIMIT_WINDOW_S from one sender (Grafana OnCall caps an integration at 300
alerts in 5 minutes). A sender is a token (by its name) or a PagerDuty integration (by
its routing key's name). Over the limit: 429 with Retry-After, and nothing of the
request is queued.

Counted in Redis, in fixed windows of Redis's clock, once the events are queued: what
is refused does not count, and requests under way together may pass the limit by what
they carry."""

from __future__ import annotations

import redis.asyncio
from fastapi import HTTPException

from router.service.runtime import Runtime
from router.state import keys


def _window(runtime: Runtime) -> tuple[int, int]:
    """The current window's number and the seconds left in it."""
    window_s = runtime.settings.events_limit_window_s
    now_s = int(runtime.clock.now().timestamp())
    return now_s // window_s, window_s - now_s % window_s


async def admit(runtime: Runtime, aredis: redis.asyncio.Redis, sender: str, events: int) -> None:
    """Raise a 429 if `events` more from `sender` would pass the limit."""
    limit = runtime.settings.events_limit
    if not limit:
        return
    window, left_s = _window(runtime)
    sent = int(await aredis.get(keys.events_sent(sender, window)) or 0)
    if sent + events > limit:
        window_s = runtime.settings.events_limit_window_s
        raise HTTPException(
            status_code=429,
            detail=(
                f"events limit: {sender} may send {limit} events every {window_s} s; "
                f"{sent} sent in this window, and this request has {events}"
            ),
            headers={"Retry-After": str(left_s)},
        )


async def count(runtime: Runtime, aredis: redis.asyncio.Redis, sender: str, events: int) -> None:
    """`events` from `sender` were queued."""
    if not runtime.settings.events_limit:
        return
    window, left_s = _window(runtime)
    key = keys.events_sent(sender, window)
    async with aredis.pipeline(transaction=False) as pipe:
        pipe.incrby(key, events)
        pipe.expire(key, left_s + 60)
        await pipe.execute()
