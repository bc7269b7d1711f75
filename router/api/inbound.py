"""POST /v1/inbound/sendgrid: replies to page emails by SendGrid's Inbound Parse webhook,
in its default (parsed) multipart form, acted on by router.service.inbound.

Guarded by HTTP basic auth, user `sendgrid` and ROUTER_INBOUND_SECRET as the password
(SendGrid sends the userinfo of the URL it is given: https://sendgrid:SECRET@host/...);
without the setting the route is off (404). A mail that acts on nothing is still a 200:
SendGrid would otherwise send it again.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from email.parser import HeaderParser
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from router.api.deps import state_of
from router.api.errors import error_body
from router.service.inbound import Reply, act_on_reply

router = APIRouter(include_in_schema=False)
USER = "sendgrid"


def _authorized(header: str, secret: str) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return hmac.compare_digest(f"{user}:{password}".encode(), f"{USER}:{secret}".encode())


@router.post("/v1/inbound/sendgrid")
async def sendgrid_inbound(request: Request) -> Any:
    runtime = state_of(request).runtime
    secret = runtime.settings.inbound_secret
    if secret is None:
        return JSONResponse(error_body(404, "inbound mail is off: no ROUTER_INBOUND_SECRET"), 404)
    if not _authorized(request.headers.get("authorization", ""), secret.get_secret_value()):
        said = JSONResponse(error_body(401, "basic auth as sendgrid, please"), 401)
        said.headers["WWW-Authenticate"] = 'Basic realm="alert-router inbound"'
        return said
    form = await request.form()
    headers = HeaderParser().parsestr(str(form.get("headers") or ""))
    refs = tuple(str(headers.get(name, "")) for name in ("In-Reply-To", "References"))
    reply = Reply(str(form.get("from") or ""), refs, str(form.get("text") or ""))
    result, why = await run_in_threadpool(act_on_reply, runtime, reply)
    return {"result": result, "message": why}
