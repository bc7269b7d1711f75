"""A runbook action's button: from the page email (its signed link: GET shows, POST
acts, since mail scanners open links) and from the console (a form with CSRF). Either
way an engineer's: the link's recipient, or the signed-in person. The store is read off
the event loop (run_in_threadpool)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from router.api.auth import role_of
from router.api.console.pages import engineer_form, page_message, runtime_of
from router.api.incidents import find_incident
from router.service.runtime import Runtime
from router.state import actions

router = APIRouter(include_in_schema=False)


def _secret(runtime: Runtime) -> bytes:
    return runtime.settings.secret_key.get_secret_value().encode()


def _press(runtime: Runtime, incident_id: str, index: int, by: str) -> tuple[str, str]:
    """(title, text) of the page that answers a press."""
    incident = find_incident(runtime, incident_id)
    action = actions.confirm_action(runtime.rules, incident, index)
    if action is None:
        return "No such action", "This incident has no action to confirm there."
    if incident.status == "resolved":
        return "Already resolved", f"The incident is resolved: {action.label} was not run."
    earlier = actions.request(
        runtime.redis, incident, index, by, runtime.clock.now(), runtime.settings.timer_lease_s
    )
    if earlier is not None:
        return "Already requested", f"{earlier} asked for {action.label} already; it runs once."
    return "Requested", f"{action.label}: running now. The result goes on the incident's timeline."


@router.get("/actions/run")
async def show(request: Request, token: str = "") -> Response:
    return await run_in_threadpool(_show, request, token)


def _show(request: Request, token: str) -> Response:
    runtime = runtime_of(request)
    try:
        claim = actions.read_button(_secret(runtime), token, runtime.settings.link_ttl_s)
    except actions.ButtonInvalid as error:
        return page_message(request, "This link does not work", f"The link is {error}.", 400)
    if role_of(runtime.rules, claim.recipient) != "engineer":
        return _not_an_engineer(request, claim.recipient)
    incident = find_incident(runtime, claim.incident)
    action = actions.confirm_action(runtime.rules, incident, claim.index)
    if action is None:
        return page_message(request, "No such action", "Nothing to run here.", 404)
    text = f"For: {incident.summary or incident.type} ({incident.pipeline}, {incident.status})."
    form = {"post_to": "/actions/run", "post_token": token, "post_label": action.label}
    return page_message(request, f"{action.label}?", text, 200, **form)


def _not_an_engineer(request: Request, recipient: str) -> Response:
    """A button's link is an engineer's (pages go to engineers): one made out to anyone
    else (an engineer since moved to the analysts) does not run the action."""
    text = f"This link was sent to {recipient}, who is not an engineer now. Nothing was run."
    return page_message(request, "Engineers only", text, 403)


@router.post("/actions/run")
async def run(request: Request, token: str = Form("")) -> Response:
    return await run_in_threadpool(_run, request, token)


def _run(request: Request, token: str) -> Response:
    runtime = runtime_of(request)
    try:
        claim = actions.read_button(_secret(runtime), token, runtime.settings.link_ttl_s)
    except actions.ButtonInvalid as error:
        return page_message(request, "This link does not work", f"The link is {error}.", 400)
    if role_of(runtime.rules, claim.recipient) != "engineer":
        return _not_an_engineer(request, claim.recipient)
    title, text = _press(runtime, claim.incident, claim.index, f"{claim.recipient} (email link)")
    return page_message(request, title, text)


@router.post("/incidents/{incident_id}/actions/{index}")
async def run_from_console(
    request: Request, incident_id: str, index: int, csrf: str = Form("")
) -> Response:
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)
    title, text = await run_in_threadpool(_press, runtime, incident_id, index, session.person)
    return RedirectResponse(f"/incidents/{incident_id}?done={quote(f'{title}: {text}')}", 303)
