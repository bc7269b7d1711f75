"""Request bodies read by hand, so every bad body is a 400 naming what is wrong: strict
UTF-8, no NaN or Infinity, nesting bounded."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi import HTTPException, Request

from router.core.events import nests_deeper

MAX_DEPTH = 32


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def too_deep() -> HTTPException:
    return HTTPException(400, f"body: nested deeper than {MAX_DEPTH} levels")


async def read_json(request: Request) -> Any:
    return await read_json_within(request, MAX_DEPTH)


async def read_json_within(request: Request, depth: int | None) -> Any:
    """The body as JSON, nested at most `depth` levels; None: the caller checks the depth
    of what its schema lets nest (events: `details` only), after validating it."""
    raw = await request.body()
    try:  # orjson is strict (UTF-8, no NaN) and fast; the slow path below says what is wrong
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if depth is not None and nests_deeper(body, depth):
            raise too_deep()
        return body
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(400, f"body: not UTF-8 (byte {error.start})") from None
    try:
        body = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise too_deep() from None
    except ValueError as error:
        raise HTTPException(400, f"body: {error}") from None
    if nests_deeper(body, MAX_DEPTH):
        raise too_deep()
    return body
