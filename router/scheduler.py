"""The timer loop: hands due escalation steps and missed deadlines to the workers.

Safe to run more than once at a time: timers are claimed atomically (router.timers) and
each deadline is raised under a SET NX marker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from router.runtime import Runtime
from router.timers import claim_due

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, runtime: Runtime, send: Callable[[str, Any], Any]) -> None:
        """`send(task name, argument)` queues a task for the workers."""
        self.runtime, self.send = runtime, send

    def tick(self, now: datetime) -> int:
        """One pass; returns how many timers it handed out."""
        settings = self.runtime.settings
        members = claim_due(self.runtime.redis, now.timestamp(), settings.timer_lease_s)
        for member in members:
            self.send("router.fire", member)
        engine = self.runtime.engine
        items = engine.deadline_events(now)
        if items:
            self.send("router.ingest", items)
            log.info("deadline missed: %d event(s) raised", len(items))
        handoff = engine.handoff_due(now)
        if handoff is not None:
            self.send("router.handoff", handoff)
        return len(members)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick(self.runtime.clock.now())
            except Exception:  # a Redis blip must not end the loop; the next tick retries
                log.exception("scheduler tick failed")
            stop.wait(self.runtime.settings.scheduler_tick_s)
