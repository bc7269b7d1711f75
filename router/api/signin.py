"""Sign in with an emailed one-time link: GET /login (form) -> POST /login (email) ->
the link by email -> GET /login/link?token= (a button; mail scanners open links) ->
POST /login/link sets the session cookie. The login form itself is protected by a
double-submit CSRF cookie, since there is no session yet."""

from __future__ import annotations

import hmac
import logging
import secrets
import sys
from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from router.api.auth import session_of
from router.api.console import page_message, page_templates
from router.api.deps import state_of
from router.core.rules.team import Analyst, Engineer
from router.service.runtime import Runtime
from router.state import keys, outbox
from router.state.sessions import (
    COOKIE,
    LOGIN_TTL_S,
    SESSION_TTL_S,
    LoginRefused,
    Logins,
    end_session,
    sign_in_link,
)
from router.state.timers import Timer, fire_now

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
FORM_COOKIE = "router_form"
LOGINS_PER_WINDOW = 5  # sign-in emails per person per LOGIN_TTL_S
_LOCAL_BACKENDS = ("outbox", "console")


def where_links_go(runtime: Runtime) -> str:
    """Where a sign-in link goes, in words, by the email backend."""
    settings = runtime.settings
    if settings.email_backend == "outbox":
        return (
            "This router writes its email to files: the terminal running `router up` (or "
            "`router api`) prints each sign-in link in full, and the email is a .eml file "
            f"in {settings.outbox_dir}."
        )
    if settings.email_backend == "console":
        return (
            "This router prints its email instead of sending it: the terminal running "
            "`router up` (or `router api`) prints each sign-in link in full."
        )
    return "The link goes to that address's inbox."


REFUSED = {
    "forged": (
        "This sign-in link is not valid",
        400,
        "The link was changed or was not made by this router. Ask for a new one.",
    ),
    "expired": (
        "This sign-in link has expired",
        410,
        f"Links work for {LOGIN_TTL_S // 60} minutes. Ask for a new one.",
    ),
    "used": (
        "This sign-in link was already used",
        410,
        "Each link signs in once. Ask for a new one if you need to sign in again.",
    ),
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = state_of(request).runtime
    return runtime


def _secure(request: Request) -> bool:
    return _runtime(request).settings.public_url.startswith("https://")


def _safe_next(target: str) -> str:
    """Only paths on this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _form(request: Request, name: str, status_code: int = 200, **context: object) -> Response:
    """A page with a form and a fresh double-submit CSRF cookie for it."""
    token = secrets.token_urlsafe(24)
    html = (
        page_templates(request)
        .get_template(name)
        .render({"title": "Sign in", "person": None, "csrf": token, **context})
    )
    response = HTMLResponse(html, status_code)
    response.set_cookie(FORM_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request))
    return response


def _form_ok(request: Request, csrf: str) -> bool:
    cookie = request.cookies.get(FORM_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), csrf.encode())


def _refused(request: Request, reason: str) -> HTMLResponse:
    title, status_code, text = REFUSED[reason]
    return page_message(request, title, text, status_code, link="/login", link_text="Sign in again")


@router.get("/login")
async def login_form(request: Request, next: str = "/") -> Response:
    if await session_of(request) is not None:
        return RedirectResponse(_safe_next(next), 303)
    return _form(
        request, "login.html", next=_safe_next(next), where=where_links_go(_runtime(request))
    )


@router.post("/login")
async def login_send(
    request: Request,
    email: str = Form(""),
    csrf: str = Form(""),
    target: str = Form("/", alias="next"),
) -> Response:
    if not _form_ok(request, csrf):
        return page_message(
            request,
            "Refused",
            "The form had no valid CSRF token: reload it.",
            403,
            link="/login",
            link_text="Back to sign in",
        )
    runtime = _runtime(request)
    team = runtime.rules.team
    people: list[Engineer | Analyst] = [*team.engineers, *team.analysts]
    person = next((p for p in people if str(p.email).lower() == email.strip().lower()), None)
    if person is not None:
        await _email_link(request, runtime, person.name, str(person.email), _safe_next(target))
    else:
        log.info("login asked for an address not in team.yaml")
    # the same answer either way: the page does not say who is in the team
    return page_message(
        request,
        "Check your email",
        f"If {email} belongs to someone in the team, a sign-in link is on its way. "
        f"It works once, for {LOGIN_TTL_S // 60} minutes. {where_links_go(runtime)}",
    )


async def _email_link(
    request: Request, runtime: Runtime, name: str, address: str, target: str
) -> None:
    logins: Logins = state_of(request).logins
    aredis = state_of(request).async_redis()
    window = int(runtime.clock.now().timestamp()) // LOGIN_TTL_S
    asked = await aredis.incr(keys.ratelimit(f"login:{name}", window))
    await aredis.expire(keys.ratelimit(f"login:{name}", window), 2 * LOGIN_TTL_S)
    if asked > LOGINS_PER_WINDOW:  # nobody can flood a person's inbox with sign-in links
        log.warning("login: more than %d links asked for one person", LOGINS_PER_WINDOW)
        return
    token = await logins.start(aredis, name)
    # the token travels in the query string, which the access log never writes
    link = sign_in_link(runtime.settings.public_url, token, target)
    if runtime.settings.email_backend in _LOCAL_BACKENDS:
        # Trying the router out: the link whole, on one line of the terminal that runs the
        # api (`router up`'s), rather than quoted-printable in a file.
        sys.stdout.write(f"sign-in link for {name}: {link}\n")
        sys.stdout.flush()
    now = runtime.clock.now()
    expires = now + timedelta(seconds=LOGIN_TTL_S)
    # rendering reads the templates from disk (the first time, then their mtimes): off the loop
    message = await run_in_threadpool(runtime.composer.login, name, address, link, expires)
    timer = Timer(kind="msg", incident=message.file_stem(), round=0, step=0)
    # the message and its fire task in one MULTI, like any notice (router.state.outbox)
    async with aredis.pipeline(transaction=True) as pipe:
        outbox.store(pipe, message)
        fire_now(pipe, [timer], now.timestamp(), runtime.settings.timer_lease_s)
        await pipe.execute()


@router.get("/login/link")
async def login_link(request: Request, token: str = "", next: str = "/") -> Response:
    logins: Logins = state_of(request).logins
    try:
        who = await logins.peek(state_of(request).async_redis(), token)
    except LoginRefused as refused:
        return _refused(request, refused.reason)
    return _form(request, "login_link.html", who=who, token=token, next=_safe_next(next))


@router.post("/login/link")
async def login_finish(
    request: Request, token: str = Form(""), csrf: str = Form(""), next: str = Form("/")
) -> Response:
    if not _form_ok(request, csrf):
        return page_message(
            request, "Refused", "The form had no valid CSRF token: open the link again.", 403
        )
    logins: Logins = state_of(request).logins
    try:
        session = await logins.finish(state_of(request).async_redis(), token)
    except LoginRefused as refused:
        return _refused(request, refused.reason)
    response = RedirectResponse(_safe_next(next), 303)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(FORM_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request, csrf: str = Form("")) -> Response:
    session = await session_of(request)
    if session is not None and hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        await end_session(state_of(request).async_redis(), session.id)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE)
    return response
