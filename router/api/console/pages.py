"""What every console page shares: its templates, the session, CSRF and role guards,
and the page a guard answers with (a redirect to /login, a 403)."""

from __future__ import annotations

import hmac
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from router.api import errors
from router.api.auth import Caller, engineers_only, role_of, session_of
from router.api.deps import state_of
from router.core.times import iso_z
from router.service.runtime import Runtime
from router.state.replication import ReplicaShortfall
from router.state.sessions import Session


def page_templates(request: Request) -> jinja2.Environment:
    """templates/console beside templates/email (ROUTER_TEMPLATES_DIR), as the image has it."""
    found: jinja2.Environment = state_of(request).console_templates
    return found


def console_templates(email_templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(email_templates_dir.parent / "console"),
        autoescape=True,
    )


class SignInFirst(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = state_of(request).runtime
    return runtime


async def page_session(request: Request) -> Session:
    session = await session_of(request)
    if session is None:
        raise SignInFirst(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return session


async def form_session(request: Request, csrf: str) -> Session:
    """The session, and the form's CSRF token matches it; else SignInFirst or 403."""
    session = await page_session(request)
    if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise CsrfRefused()
    return session


class CsrfRefused(Exception):
    pass


class EngineersOnly(Exception):
    """An analyst's session sent an engineer's form: answered with a 403 page."""

    def __init__(self, caller: Caller) -> None:
        super().__init__(engineers_only(caller))
        self.caller = caller


def is_engineer(request: Request, session: Session) -> bool:
    return role_of(runtime_of(request).rules, session.person) == "engineer"


async def engineer_form(request: Request, csrf: str) -> Session:
    """form_session, and the person has an engineer's rights (router.api.auth.role_of):
    what every console form that acts on an incident or the roster asks first."""
    session = await form_session(request, csrf)
    if not is_engineer(request, session):
        raise EngineersOnly(Caller(session.person, "analyst"))
    return session


def sign_in_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)


def csrf_refused(request: Request) -> HTMLResponse:
    return page_message(
        request,
        "Refused",
        "This form is out of date or was not sent by the console "
        "(no valid CSRF token). Reload the page and try again.",
        403,
    )


def page_message(
    request: Request, title: str, text: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    context = {"title": title, "text": text, "person": None, "link": None, **extra}
    html = page_templates(request).get_template("message.html").render(context)
    return HTMLResponse(html, status_code)


def render(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
    runtime = runtime_of(request)
    zone = runtime.rules.team.zone

    def local(moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(zone).strftime("%a %b %d %H:%M %Z")

    def clock(moment: datetime) -> str:
        """The wall-clock time alone, for a calendar day's handoff."""
        return moment.astimezone(zone).strftime("%H:%M")

    said = {
        "person": session.person,
        "csrf": session.csrf,
        "local": local,
        "clock": clock,
        "iso": iso_z,
        "flash": request.query_params.get("done"),
        "error": None,
        **context,
    }
    html = page_templates(request).get_template(name).render(said)
    return HTMLResponse(html, context.get("status_code", 200))


def _unavailable_page(request: Request, title: str, text: str, answer: Response) -> Response:
    page = page_message(request, title, text, 503, link="/", link_text="Back to the console")
    page.headers["Retry-After"] = answer.headers["Retry-After"]
    return page


def wants_page(request: Request) -> bool:
    """A browser's request (a console page or form, an email link) asks for HTML."""
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """A page without a session goes to /login; a form without its CSRF token, 403; an
    engineer's form sent by an analyst, 403. A browser whose request Redis could not
    serve or confirm gets a page saying so (503), not the API's JSON."""

    @app.exception_handler(ReplicaShortfall)
    async def unconfirmed_page(request: Request, error: ReplicaShortfall) -> Response:
        answer = await errors.unconfirmed(request, error)
        if not wants_page(request):
            return answer
        text = (
            f"The router's store took the change, but {error}, so a failover now could "
            "lose it. Check the page and try again in a few seconds."
        )
        return _unavailable_page(request, "Not confirmed yet", text, answer)

    @app.exception_handler(redis.RedisError)
    async def unavailable_page(request: Request, error: redis.RedisError) -> Response:
        answer = await errors.unavailable(request, error)
        if not wants_page(request):
            return answer
        text = (
            "The router's store did not answer, so this could not be done now. "
            "Try again in a few seconds."
        )
        return _unavailable_page(request, "Try again shortly", text, answer)

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, error: SignInFirst) -> Response:
        return sign_in_redirect(error.path)

    @app.exception_handler(CsrfRefused)
    async def refused(request: Request, error: CsrfRefused) -> Response:
        return csrf_refused(request)

    @app.exception_handler(EngineersOnly)
    async def engineers_only_page(request: Request, error: EngineersOnly) -> Response:
        text = (
            f"Only engineers can do this. You are signed in as {error.caller.name}, "
            "who can read everything and add notes to incidents. Nothing was changed."
        )
        return page_message(
            request, "Engineers only", text, 403, link="/", link_text="Back to the console"
        )
