"""Acknowledge and Resolve from the email itself.

GET shows a small confirmation page and changes nothing (mail scanners open links); its
button POSTs the action. A tampered or expired token gets a clear page and a 4xx. A link
is made out to the engineer paged; one whose recipient is not an engineer (any more) gets
a 403 and changes nothing. Sync handlers: FastAPI runs them off the event loop.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from router.api.auth import role_of
from router.api.deps import state_of
from router.core.incidents import Incident
from router.core.links import LinkAction, LinkClaim, LinkInvalid, verify
from router.service import acting
from router.service.acting import already_done

router = APIRouter()
VERB = {"acknowledge": "Acknowledge", "resolve": "Resolve"}


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>
<style>body{{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
background:#f2f4f7;color:#101828}}main{{max-width:480px;margin:0 auto;padding:16px}}
.card{{background:#fff;border-radius:8px;padding:18px;overflow-wrap:anywhere}}
button{{display:block;width:100%;padding:14px;font-size:17px;font-weight:700;color:#fff;
background:#1849a9;border:0;border-radius:6px}}</style></head>
<body><main><div class="card"><h1>{escape(title)}</h1>{body}</div></main></body></html>"""
    return HTMLResponse(html, status_code)


def _claim(request: Request, action: LinkAction, token: str) -> LinkClaim | HTMLResponse:
    runtime = state_of(request).runtime
    secret = runtime.settings.secret_key.get_secret_value().encode()
    try:
        claim = verify(token, secret, runtime.clock.now())
    except LinkInvalid as error:
        if error.reason == "expired":
            return _page(
                "This link has expired",
                "<p>Open the incident in the router, or use a newer email.</p>",
                410,
            )
        return _page(
            "This link is not valid",
            "<p>It was changed or cut short. Use the link from the email.</p>",
            400,
        )
    if claim.action != action:
        return _page("This link is not valid", "<p>It is for another action.</p>", 400)
    if role_of(runtime.rules, claim.recipient) != "engineer":  # pages go to engineers only
        return _page(
            "Engineers only",
            f"<p>This link was sent to {escape(claim.recipient)}, who is not an engineer "
            "now. Nothing was changed.</p>",
            403,
        )
    return claim


def _done_page(request: Request, incident: Incident) -> HTMLResponse:
    zone = state_of(request).runtime.rules.team.zone
    if incident.status == "resolved":
        who, when = incident.resolved_by, incident.resolved_at
    else:
        who, when = incident.acknowledged_by, incident.acknowledged_at
    stamp = when.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z") if when else "earlier"
    return _page(
        f"Already {incident.status}",
        f"<p>{escape(incident.summary or incident.type)} was {incident.status} by "
        f"{escape(who or 'someone')} at {stamp}. Nothing was changed.</p>",
    )


def _open(
    request: Request, action: LinkAction, token: str
) -> tuple[LinkClaim, Incident] | HTMLResponse:
    """The link's claim and its incident, or the page to show instead."""
    claim = _claim(request, action, token)
    if isinstance(claim, HTMLResponse):
        return claim
    incident: Incident | None = state_of(request).runtime.engine.store.get(claim.incident)
    if incident is None:
        return _page("No such incident", "<p>It may have been removed.</p>", 404)
    if already_done(incident, action):
        return _done_page(request, incident)
    return claim, incident


@router.get("/email/{action}", response_class=HTMLResponse)
def confirm(request: Request, action: LinkAction, token: str = "") -> HTMLResponse:
    opened = _open(request, action, token)
    if isinstance(opened, HTMLResponse):
        return opened
    _, incident = opened
    return _page(
        f"{VERB[action]} this incident?",
        f"<p>{escape(incident.summary or incident.type)} ({incident.severity}, "
        f"{escape(incident.pipeline)})</p>"
        f'<form method="post" action="/email/{action}">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<button type="submit">{VERB[action]}</button></form>',
    )


@router.post("/email/{action}", response_class=HTMLResponse)
def act(request: Request, action: LinkAction, token: str = Form("")) -> HTMLResponse:
    opened = _open(request, action, token)
    if isinstance(opened, HTMLResponse):
        return opened
    claim, incident = opened
    by = f"{claim.recipient} (email link)"
    done = acting.act(state_of(request).runtime, incident, action, by).incident
    return _page(
        f"{done.status.capitalize()}",
        f"<p>{escape(done.summary or done.type)} is {done.status}. "
        + (
            "Escalation has stopped.</p>"
            if action == "acknowledge"
            else "Everyone paged will be told.</p>"
        ),
    )
