"""GET /v1/oncall.ics: the next 12 weeks of shifts, for the team or one engineer.

Calendar apps cannot send headers, so besides a token or a session the feed takes
`key`: a signed per-person key kept in Redis; making a new one revokes the old URL."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer

from router.api.auth import require_reader, session_of
from router.api.deps import state_of
from router.core.icsfeed import shifts_calendar
from router.core.rotation import shifts_between
from router.core.times import local_day_span
from router.service.runtime import Runtime
from router.state import keys

router = APIRouter()
FEED_WEEKS = 12


def _signer(runtime: Runtime) -> URLSafeSerializer:
    return URLSafeSerializer(runtime.settings.secret_key.get_secret_value(), salt="router-feed")


async def _person_nonce(request: Request, person: str, renew: bool = False) -> str:
    aredis = state_of(request).async_redis()
    if not renew:
        found = await aredis.hget(keys.FEED_KEYS, person)
        if found is not None:
            return found.decode() if isinstance(found, bytes) else str(found)
    nonce = secrets.token_urlsafe(12)
    await aredis.hset(keys.FEED_KEYS, person, nonce)
    return nonce


async def feed_url(request: Request, runtime: Runtime, person: str) -> str:
    """The person's feed of their own shifts (engineers) or the team's (anyone else)."""
    nonce = await _person_nonce(request, person)
    key = _signer(runtime).dumps([person, nonce])
    engineers = {p.name for p in runtime.rules.team.engineers}
    query: dict[str, str] = {"key": key}
    if person in engineers:
        query["engineer"] = person
    return f"{runtime.settings.public_url.rstrip('/')}/v1/oncall.ics?{urlencode(query)}"


async def _key_ok(request: Request, runtime: Runtime, key: str) -> bool:
    try:
        person, nonce = _signer(runtime).loads(key)
    except (BadSignature, ValueError, TypeError):
        return False
    stored = await state_of(request).async_redis().hget(keys.FEED_KEYS, str(person))
    if stored is None:
        return False
    current = stored.decode() if isinstance(stored, bytes) else str(stored)
    return hmac.compare_digest(current.encode(), str(nonce).encode())


@router.get(
    "/v1/oncall.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
async def oncall_ics(request: Request, engineer: str | None = None, key: str = "") -> Response:
    """The next 12 weeks of shifts from today (team time): the team's, or one engineer's."""
    runtime: Runtime = state_of(request).runtime
    if not (key and await _key_ok(request, runtime, key)):
        await require_reader(request, runtime, state_of(request).async_redis())
    body = await run_in_threadpool(_feed, runtime, engineer)  # the roster: a sync read
    headers: dict[str, Any] = {"Cache-Control": "private, max-age=300"}
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


def _feed(runtime: Runtime, engineer: str | None) -> bytes:
    rules = runtime.current_rules()
    if engineer is not None and engineer not in {p.name for p in rules.team.engineers}:
        raise HTTPException(400, f"engineer: unknown engineer {engineer!r}")
    now = runtime.clock.now()
    today = now.astimezone(rules.team.zone).date()
    first, last = today, today + timedelta(weeks=FEED_WEEKS) - timedelta(days=1)
    shifts = shifts_between(*local_day_span(first, last, rules.team.zone), rules)
    if engineer is not None:
        shifts = [shift for shift in shifts if shift.engineer == engineer]
    title = f"On call: {engineer}" if engineer else "On call: data engineering"
    return shifts_calendar(shifts, rules, now, title)


@router.post("/oncall/feed-key", include_in_schema=False)
async def renew_feed_key(request: Request, csrf: str = Form("")) -> Response:
    """A new feed URL for the signed-in person; the old one stops working."""
    session = await session_of(request)
    if session is None or not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        return RedirectResponse("/login?next=/oncall", 303)
    await _person_nonce(request, session.person, renew=True)
    return RedirectResponse("/oncall?done=A+new+calendar+feed+URL+is+below.", 303)
