"""Response headers and the access log: a request id on every response, browser
protections on every page, a log line without the query string (email-link tokens
travel there), and an unexpected exception answered as JSON, logged with the request id."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router.api.errors import error_body, send_json
from router.state.ids import unique_hex

log = logging.getLogger("router.access")

_STRICT = (
    b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'"
)
_DOCS = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
    b"'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"
)

# Accepted events are not logged at INFO: at thousands a second the line cost more than
# the request, and each event's id is on the incident's timeline anyway.
_INGEST_PATHS = frozenset({"/v1/events", "/v2/enqueue", "/v1/alertmanager"})


class Protections:
    """Request id, CSP, X-Frame-Options, Referrer-Policy, nosniff; and the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"")
        request_id = incoming.decode("latin-1")[:64] if incoming.isascii() and incoming else ""
        request_id = request_id or unique_hex()
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        csp = _DOCS if path.startswith("/docs") else _STRICT
        started = time.perf_counter()
        status = 500

        started_response = False

        async def with_headers(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            log.exception("request %s failed", request_id)
            if started_response:
                raise
            await _internal_error(with_headers, request_id)
        finally:
            level = logging.DEBUG if status == 202 and path in _INGEST_PATHS else logging.INFO
            log.log(
                level,
                "%s %s %d %.1fms %s",
                scope["method"],
                path,  # never the query string
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


async def _internal_error(send: Send, request_id: str) -> None:
    message = f"internal error (request id {request_id})"
    await send_json(send, 500, error_body(500, message))
