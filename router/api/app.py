"""The FastAPI application, built from a runtime and a way to queue tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from router.api import alertmanager, email_links, events, incidents, pagerduty
from router.api.limits import BodyLimit
from router.runtime import Runtime

MAX_BODY_BYTES = 512 * 1024


def create_api(runtime: Runtime, send: Callable[[str, Any], Any]) -> FastAPI:
    """`send(task name, argument)` queues a task for the workers."""
    app = FastAPI(title="alert-router", version="0.1.0")
    app.state.runtime = runtime
    app.state.send = send
    for module in (events, pagerduty, alertmanager, incidents, email_links):
        app.include_router(module.router)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        said = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()]
        return JSONResponse(
            {"status": "invalid request", "message": "; ".join(said), "errors": said}, 400
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"status": "error", "message": error.detail},
            error.status_code,
            headers=error.headers,
        )

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    return app
