"""POST /v1/events straight to its endpoint, past the app's router.

The console, the API and the sign-in pages are some forty routes, matched by FastAPI's
router for every request, with its dependency and exit-stack layers: for a one-event
request they cost about as much as the endpoint itself (docs/performance.md). The
events endpoint is a plain Starlette endpoint that needs none of that, so this lane
hands it the request at once, behind the app's own exception handlers (the same
answers as through the router: 401, 413, 503 with Retry-After…). Any other method or
path goes on to the router as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class Lane:
    def __init__(self, app: ASGIApp, owner: FastAPI, path: str, endpoint: Endpoint) -> None:
        self.app, self.path = app, path
        # As Starlette builds its stack: a handler for 500 or Exception belongs to the
        # outer ServerErrorMiddleware, which this lane sits inside of.
        handlers = {
            key: handler
            for key, handler in owner.exception_handlers.items()
            if key not in (500, Exception)
        }
        self.endpoint = ExceptionMiddleware(request_response(endpoint), handlers=handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == scope.get("root_path", "") + self.path
        ):
            await self.endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)
