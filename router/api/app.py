"""The FastAPI application, built from a runtime and a way to queue tasks."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from router.api import (
    alertmanager,
    calendarfeed,
    console,
    email_links,
    errors,
    events,
    inbound,
    incidents,
    maintenance,
    metrics,
    pagerduty,
    push_links,
    roster,
    runbook_actions,
    signin,
    slack,
)
from router.api.deps import ApiState, attach
from router.api.lane import Lane
from router.api.limits import BodyLimit
from router.api.middleware import Protections
from router.api.schema import describe_bodies
from router.queue.tasks import AsyncSend
from router.service.runtime import Runtime
from router.state.publish import LoopRedis, async_sender
from router.state.sessions import Logins

MAX_BODY_BYTES = 512 * 1024
log = logging.getLogger(__name__)


def create_api(runtime: Runtime, send: AsyncSend | None = None) -> FastAPI:
    """`send(task, argument, queue)` queues a task for the workers; by default it is
    written straight into the broker's queue at REDIS_URL (router.state.publish)."""
    clients = LoopRedis(runtime.settings.redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop, stopping = threading.Event(), asyncio.Event()
        indexing = asyncio.create_task(_index_pipelines(runtime, stop))
        counting = runtime.settings.redis_min_replicas > 0
        following = asyncio.create_task(clients.follow(stopping, counting))
        yield
        stop.set()
        stopping.set()
        await indexing
        await following
        await clients.close()

    app = FastAPI(
        title="alert-router", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan
    )
    attach(
        app,
        ApiState(
            runtime=runtime,
            async_redis=clients,
            send=send
            or async_sender(
                clients, runtime.settings.redis_min_replicas, runtime.settings.redis_wait_ms
            ),
            console_templates=console.console_templates(runtime.settings.templates_dir),
            logins=Logins(runtime.settings.secret_key.get_secret_value().encode()),
        ),
    )
    for module in (
        events, pagerduty, alertmanager, incidents, roster, maintenance, calendarfeed, metrics,
    ):  # fmt: skip
        app.include_router(module.router)
    app.include_router(email_links.router)
    app.include_router(push_links.router)
    app.include_router(inbound.router)
    app.include_router(slack.router)
    app.include_router(signin.router)
    app.include_router(console.router)
    app.include_router(runbook_actions.router)
    if runtime.settings.api_docs:
        _offline_docs(app)
    errors.install(app)
    console.install(app)
    app.add_middleware(Lane, owner=app, path="/v1/events", endpoint=events.post_events)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(Protections)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_bodies(FastAPI.openapi(app), runtime.rules)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _index_pipelines(runtime: Runtime, stop: threading.Event) -> None:
    """Incidents stored before the per-pipeline status sets existed are put in them, once
    (router.state.store.IncidentStore.index_pipelines), in a thread while the API serves; the
    console's pipeline filter lists them when it is done. A failure is logged, and the
    next start tries again."""
    store = runtime.engine.store
    try:
        added = await run_in_threadpool(store.index_pipelines, stop.is_set)
    except redis.RedisError as error:
        log.warning("the per-pipeline incident index was not filled: %s", error)
        return
    if added:
        log.info("indexed %d incidents by pipeline", added)


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI from the `swagger-ui-bundle` package: no CDN, works offline."""
    import swagger_ui_bundle

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), "assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="alert-router API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )
