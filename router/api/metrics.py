"""GET /metrics: Prometheus text format, the same numbers from every api process (they
live in Redis: router.state.metrics). Open like /healthz: counts only, no names or events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from router.api.deps import state_of
from router.service.runtime import Runtime
from router.state.metrics import RedisCollector

router = APIRouter()


@router.get("/metrics", response_class=Response, include_in_schema=False)
def metrics(request: Request) -> Response:
    runtime: Runtime = state_of(request).runtime
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(runtime.redis, runtime.clock.now))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
