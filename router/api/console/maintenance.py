"""/maintenance: the maintenance windows on now or to come (the rules' weekly ones too),
a form to set a one-off window and a button to end one, through the same code as the
API (router.api.maintenance). Engineers' forms only; read and written off the event loop."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from router.api.console.pages import (
    engineer_form,
    is_engineer,
    page_session,
    render,
    runtime_of,
)
from router.api.maintenance import WindowIn, add_window, end_window
from router.core.roster import RosterInvalid
from router.service.runtime import Runtime
from router.state.sessions import Session

router = APIRouter(include_in_schema=False)


def active_windows(runtime: Runtime) -> list[dict[str, object]]:
    """The windows on now: the banner on `/`."""
    listed = runtime.roster.window_listing(runtime.clock.now())
    return [window for window in listed if window["active"]]


@router.get("/maintenance")
async def maintenance_page(request: Request) -> Response:
    session = await page_session(request)
    return await run_in_threadpool(_page, request, session)


def _page(request: Request, session: Session, error: str | None = None) -> HTMLResponse:
    runtime = runtime_of(request)
    rules = runtime.current_rules()
    context: dict[str, Any] = {
        "title": "Maintenance",
        "windows": runtime.roster.window_listing(runtime.clock.now()),
        "pipelines": [(p.id, p.name) for p in rules.pipelines.values()],
        "types": sorted(rules.event_types()),
        "is_engineer": is_engineer(request, session),
    }
    if error is not None:
        context.update(error=error, status_code=400)
    return render(request, "maintenance.html", session, **context)


@router.post("/maintenance")
async def set_window(
    request: Request,
    csrf: str = Form(""),
    pipelines: Annotated[list[str] | None, Form()] = None,
    types: Annotated[list[str] | None, Form()] = None,
    start: str = Form(""),
    end: str = Form(""),
    reason: str = Form(""),
    page_p1: str = Form(""),
) -> Response:
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)
    chosen = [p for p in pipelines or [] if p]
    try:
        body = WindowIn(
            pipelines="all" if not chosen or "all" in chosen else chosen,
            types=[t for t in types or [] if t] or None,
            start=start or None,
            end=end,
            reason=reason,
            page_p1=page_p1 == "yes",
        )
        added = await run_in_threadpool(add_window, runtime, body, session.person)
    except ValidationError as error:
        fields = ", ".join(str(e["loc"][-1]) for e in error.errors())
        return await run_in_threadpool(_page, request, session, f"{fields}: fill this in")
    except RosterInvalid as error:
        return await run_in_threadpool(_page, request, session, str(error))
    return _done(f"Maintenance window {added['id']} set.")


@router.post("/maintenance/{window_id}/end")
async def end(request: Request, window_id: str, csrf: str = Form("")) -> Response:
    session = await engineer_form(request, csrf)
    ended = await run_in_threadpool(end_window, runtime_of(request), window_id, session.person)
    if ended is None:
        return _done(f"Maintenance window {window_id} had already ended.")
    return _done(f"Maintenance window {window_id} ended: what it kept quiet is decided again.")


def _done(message: str) -> RedirectResponse:
    return RedirectResponse(f"/maintenance?done={quote(message)}", 303)
