"""Acknowledge from a push: the Acknowledge button an ntfy page carries POSTs its signed
URL here (router.delivery.channels.apprise_backend.with_acknowledge).

The URL is bound to the incident and the engineer paged, expires with the email links
(ROUTER_LINK_TTL_S) and acts once: a second press answers who acknowledged, and a
press after the incident was triggered again (an acknowledgement timeout) is refused, so
an old notification cannot silence a new round. Answers are JSON (ntfy shows whether the
request succeeded). A sync handler: FastAPI runs it off the event loop.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from router.api.auth import role_of
from router.api.deps import state_of
from router.api.errors import error_body
from router.core.links import LinkInvalid, verify
from router.service.acting import act, already_done, done_by
from router.state import keys

router = APIRouter(include_in_schema=False)


def _refused(status: int, message: str) -> JSONResponse:
    return JSONResponse(error_body(status, message), status)


@router.post("/push/acknowledge")
def acknowledge(request: Request, token: str = "") -> Any:
    runtime = state_of(request).runtime
    secret = runtime.settings.secret_key.get_secret_value().encode()
    now = runtime.clock.now()
    try:
        claim = verify(token, secret, now)
    except LinkInvalid as error:
        if error.reason == "expired":
            return _refused(410, "this button has expired: open the incident in the router")
        return _refused(403, "this button is not valid: nothing was changed")
    if claim.action != "acknowledge":
        return _refused(403, "this button is not valid: nothing was changed")
    if role_of(runtime.rules, claim.recipient) != "engineer":
        return _refused(403, f"{claim.recipient} is not an engineer now: nothing was changed")
    incident = runtime.engine.store.get(claim.incident)
    if incident is None:
        return _refused(404, "no such incident")
    if already_done(incident, "acknowledge"):
        return {"status": incident.status, "message": f"already {done_by(incident)}"}
    used = keys.push_button_used(hashlib.sha256(token.encode()).hexdigest()[:32])
    if not runtime.redis.set(used, now.isoformat(), nx=True, ex=runtime.settings.link_ttl_s):
        return _refused(409, "this button was used already: the incident was triggered again")
    try:
        acted = act(runtime, incident, "acknowledge", f"{claim.recipient} (push)")
    except Exception:
        runtime.redis.delete(used)  # not acted: the button may be pressed again
        raise
    done = acted.incident
    said = done_by(done) if acted.changed else f"already {done_by(done)}"
    return {"status": done.status, "message": said}
