"""Typed access to what every endpoint needs, so mypy checks the API layer too."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from router.runtime import Runtime
from router.tasks import Send


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_send(request: Request) -> Send:
    send: Send = request.app.state.send
    return send


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SendDep = Annotated[Send, Depends(get_send)]
