"""`router inbound`: replies to page emails by SMTP (aiosmtpd), each acted on by
router.service.inbound. Every message is answered 250 whatever it did: a sender learns
nothing from the answer, and what a reply did is in the log (and on the incident)."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import signal
import threading
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

from router.config.settings import Settings
from router.service.inbound import Reply, act_on_reply
from router.service.runtime import Runtime, build_runtime

log = logging.getLogger(__name__)
_PARSER = BytesParser(policy=email.policy.default)


class InboundHandler:
    """aiosmtpd's handler: the reply acted on off its event loop (Redis is synchronous)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = _PARSER.parsebytes(envelope.content)
        if isinstance(message, EmailMessage):
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, act_on_reply, self.runtime, Reply.of(message))
        return "250 OK"


def inbound_server(runtime: Runtime, host: str, port: int) -> Controller:
    """Started by the caller (`start`), stopped with `stop`."""
    return Controller(InboundHandler(runtime), hostname=host, port=port)


def run_inbound(settings: Settings) -> None:
    runtime = build_runtime(settings).watched("inbound")
    server = inbound_server(runtime, settings.inbound_host, settings.inbound_port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    log.info("inbound: replies by SMTP on %s:%s", settings.inbound_host, settings.inbound_port)
    stop.wait()
    server.stop()
