"""Every error is JSON: validation (400), HTTP errors (401, 404, 405, 413, 429),
Redis or the broker unreachable (503 with Retry-After). Anything else is answered by
router.api.middleware (500, logged with the request id)."""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from kombu.exceptions import OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import Send

from router.api.deps import state_of
from router.state.metrics import count_now
from router.state.replication import ReplicaShortfall

log = logging.getLogger("router.api")
RETRY_AFTER_S = 5


UNAVAILABLE = "the router's store is unreachable; try again shortly"


def error_body(code: int, message: str, errors: list[str] | None = None) -> dict[str, object]:
    """The one shape of every error the API answers (but PagerDuty's /v2/enqueue, which
    answers as PagerDuty does): `status` is the HTTP status's reason in lower case ("bad
    request", "not found", "service unavailable"), `message` says what went wrong, and
    `errors` names each wrong field."""
    status = HTTPStatus(code).phrase.lower()
    return {"status": status, "message": message, "errors": errors or [message]}


async def send_json(send: Send, status: int, payload: dict[str, object]) -> None:
    """A whole JSON response, for the ASGI middlewares that answer before the app."""
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed(request: Request) -> str | None:
    """Every method some route at this path takes: Starlette's 405 names only the first
    route's (GET for /email/{action}, though POST is there too). Each method is tried
    against the app's routes; None if none takes one (then Starlette's header stands)."""
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]
    return ", ".join(allowed) or None


async def unavailable(request: Request, error: Exception) -> JSONResponse:
    """Redis unreachable (or no master now): 503 with Retry-After."""
    log.warning("request %s: store unavailable: %s", request.state.request_id, error)
    return JSONResponse(
        error_body(503, UNAVAILABLE),
        503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def unconfirmed(request: Request, error: Exception) -> JSONResponse:
    """On the master, but too few replicas confirmed it (ReplicaShortfall): 503, counted."""
    log.warning("request %s: not confirmed by the replicas: %s", request.state.request_id, error)
    try:  # on the master, which answers: only its replicas are missing
        labels = {"path": request.url.path}
        await count_now(state_of(request).async_redis(), "router_api_unconfirmed", labels)
    except redis.RedisError:
        pass
    return JSONResponse(
        error_body(503, f"not accepted: {error}, so a failover could lose it; send it again"),
        503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        said = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return JSONResponse(error_body(400, "; ".join(said), said), 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        headers = error.headers
        if error.status_code == 405 and (allowed := _allowed(request)):
            headers = {**(headers or {}), "Allow": allowed}
        return JSONResponse(
            error_body(error.status_code, str(error.detail)), error.status_code, headers
        )

    app.add_exception_handler(ReplicaShortfall, unconfirmed)
    app.add_exception_handler(redis.RedisError, unavailable)
    app.add_exception_handler(OperationalError, unavailable)
