"""The timer loop: hands due timers to the workers, raises missed deadlines, announces
shift changes, sums up maintenance windows that ended.

Safe to run more than once at a time: timers are claimed atomically (router.state.timers), and
deadlines and handoffs are written once, with their markers (router.service.watchers). A timer
claimed while the broker is unreachable stays leased and is claimed again when its
lease runs out.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import redis

from router.queue.tasks import DELIVER_QUEUE, FIRE, FIRE_BATCH, Send
from router.service.runtime import Runtime
from router.state import ledger
from router.state.timers import claim_due

log = logging.getLogger(__name__)


LEDGER_EVERY_S = 1.0
"""How often the scheduler looks for accepted batches lost in kombu's window."""


class Scheduler:
    def __init__(self, runtime: Runtime, send: Send) -> None:
        self.runtime, self.send = runtime, send
        self._ledger_at = -LEDGER_EVERY_S

    def tick(self, now: datetime) -> int:
        """One pass; returns how many timers it handed out."""
        settings = self.runtime.settings
        members = claim_due(self.runtime.redis, now.timestamp(), settings.timer_lease_s)
        for start in range(0, len(members), FIRE_BATCH):
            self.send(FIRE, members[start : start + FIRE_BATCH], DELIVER_QUEUE)
        watchers = self.runtime.engine.watchers
        if raised := watchers.raise_deadlines(now):
            log.info("deadline missed: %d data_late event(s) raised", raised)
        if told := watchers.announce_handoff(now):
            log.info("shift change: told %s", ", ".join(told))
        engine = self.runtime.engine
        if summaries := engine.window_summaries.summarize(now):
            log.info("maintenance window ended: %d summary email(s)", summaries)
        if lines := engine.window_lines.announce(now):
            log.info("maintenance window: %d chat line(s)", lines)
        self._requeue_lost_batches()
        return len(members)

    def _requeue_lost_batches(self) -> None:
        """With ROUTER_REDIS_MIN_REPLICAS, once a second: accepted batches a failover
        took from between a worker's BRPOP and its `unacked` record, back on their
        queues after ROUTER_REDELIVER_AFTER_S, as a task a dead worker held comes back."""
        settings = self.runtime.settings
        if not settings.redis_min_replicas or time.monotonic() - self._ledger_at < LEDGER_EVERY_S:
            return
        self._ledger_at = time.monotonic()
        if back := ledger.requeue_lost(self.runtime.redis, settings.redeliver_after_s):
            log.warning("%d accepted batch(es) lost on the way to a worker: queued again", back)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick(self.runtime.clock.now())
            except redis.RedisError as error:  # a failover, a restart: the next tick retries
                log.warning("scheduler tick: Redis: %s", error)
            except Exception:  # nothing must end the loop; the next tick retries
                log.exception("scheduler tick failed")
            stop.wait(self.runtime.settings.scheduler_tick_s)
