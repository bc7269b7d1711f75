"""The events lane (router.api.lane) on a small FastAPI app: POST to its path reaches
its endpoint behind the app's exception handlers; anything else goes to the router."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.api.lane import Lane


async def _endpoint(request: Request) -> Response:
    if request.headers.get("authorization") != "yes":
        raise HTTPException(status_code=401, detail="no")
    return Response(b"lane", 202)


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/events")
    async def routed() -> Response:
        return Response(b"router", 202)

    @app.get("/v1/events")
    async def listed() -> Response:
        return Response(b"router get", 200)

    @app.exception_handler(HTTPException)
    async def said(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"status": "error", "detail": error.detail}, error.status_code)

    app.add_middleware(Lane, owner=app, path="/v1/events", endpoint=_endpoint)
    return app


@pytest.mark.parametrize(
    ("method", "path", "root_path", "headers", "answer"),
    [
        ("POST", "/v1/events", "", {"authorization": "yes"}, (202, b"lane")),
        ("POST", "/v1/events", "", {}, (401, b'{"status":"error","detail":"no"}')),
        ("GET", "/v1/events", "", {}, (200, b"router get")),
        ("POST", "/v1/events/", "", {"authorization": "yes"}, (307, b"")),  # the router's
        ("POST", "/prefix/v1/events", "/prefix", {"authorization": "yes"}, (202, b"lane")),
    ],
)
def test_the_lane_takes_posts_to_its_path_only(
    method: str, path: str, root_path: str, headers: dict[str, str], answer: tuple[int, bytes]
) -> None:
    with TestClient(_app(), root_path=root_path, follow_redirects=False) as client:
        response = client.request(method, path, headers=headers)
    assert (response.status_code, response.content) == answer
