"""Bearer tokens for every write endpoint, compared in constant time."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def require_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    tokens = request.app.state.runtime.settings.api_tokens
    if scheme.lower() == "bearer" and token:
        for known in tokens:
            if hmac.compare_digest(token.encode(), known.get_secret_value().encode()):
                return "token"
    raise HTTPException(
        status_code=401,
        detail="missing or wrong credential: send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )
