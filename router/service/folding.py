"""Events into incidents: a batch from the queue, one event, or an action from the API.

Every fold and what it causes (timers, notices, the data_ready marker) is planned by
the core (router.core.fold) and written as one transaction (router.state.store,
router.state.writer);
`fault` is a test hook called at the instants a crash used to lose work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from router.core.events import Event, unknown_pipeline
from router.core.fold import Arrival
from router.core.incidents import Act, Incident, Outcome
from router.core.rules import Rules
from router.queue.tasks import QueuedEvent
from router.state.deadletters import record_failure
from router.state.store import IncidentStore

log = logging.getLogger(__name__)
MAX_FOLD_BATCH = 1000  # events in one transaction

Fault = Callable[[str], None]


def no_fault(point: str) -> None:
    """Production: nothing happens at a fault point."""


@dataclass(frozen=True)
class IngestReport:
    folded: int = 0
    skipped: int = 0  # folded before (a redelivered task) or dropped by the fold
    failed: int = 0  # to try again: the task is requeued
    dead: int = 0  # moved to the dead letters


class Intake:
    def __init__(
        self,
        rules: Rules,
        client: redis.Redis,
        store: IncidentStore,
        new_id: Callable[[], str],
        fault: Fault = no_fault,
    ) -> None:
        self.rules, self.redis, self.store = rules, client, store
        self.new_id, self.fault = new_id, fault

    def ingest(
        self, items: list[QueuedEvent], now: datetime, take_turns: bool = False
    ) -> IngestReport:
        """Fold a queued batch in one transaction (router.state.store.fold_many). Safe to run
        again: events folded before are skipped. A Redis error propagates (the task is
        redelivered). An event whose pipeline the rules no longer have, or whose fold
        raises, is its own problem: it is counted towards the dead letters and the rest
        goes on. `take_turns`: big batches take turns on a pipeline (the ingest lane's;
        router.state.store.fold_many)."""
        arrivals, items_of, failed, dead = [], {}, 0, 0
        for item in items:
            event = item.event
            if event.pipeline not in self.rules.pipelines:  # the rules changed since
                problem = unknown_pipeline(event.pipeline, self.rules)
                failed, dead = self._set_aside(item, problem, now, failed, dead)
                continue
            arrivals.append(Arrival(event, item.event_id, self.new_id(), item.received_at))
            items_of[item.event_id] = item
        outcomes: list[Outcome | None] = []
        for start in range(0, len(arrivals), MAX_FOLD_BATCH):
            chunk = arrivals[start : start + MAX_FOLD_BATCH]
            try:
                outcomes += self.store.fold_many(chunk, now, take_turns)
            except redis.RedisError:
                raise
            except Exception:  # one event's fold raises: fold them one by one to find it
                log.warning("a batch failed to fold; folding its events one by one")
                for arrival in chunk:
                    try:
                        outcomes.append(self.store.fold(arrival, now))
                    except redis.RedisError:
                        raise
                    except Exception as error:
                        item = items_of[arrival.event_id]
                        failed, dead = self._set_aside(item, error, now, failed, dead)
        self.fault("folded")
        folded = sum(1 for outcome in outcomes if outcome is not None)
        return IngestReport(folded, len(outcomes) - folded, failed, dead)

    def _set_aside(
        self, item: QueuedEvent, error: Exception, now: datetime, failed: int, dead: int
    ) -> tuple[int, int]:
        log.warning("event %s failed to fold: %r", item.event_id, error)
        if record_failure(self.redis, item, f"{type(error).__name__}: {error}", now):
            return failed, dead + 1
        return failed + 1, dead

    def apply(
        self, event: Event, event_id: str, now: datetime, received_at: datetime | None = None
    ) -> Outcome | None:
        """One event the router makes itself (a missed deadline); `received_at` (by
        default `now`) names the day its `seen` marker is kept under."""
        arrival = Arrival(event, event_id, self.new_id(), received_at or now)
        outcome = self.store.fold(arrival, now)
        self.fault("folded")
        return outcome

    def act(self, incident: Incident, action: Act, by: str, now: datetime) -> Incident | None:
        """Acknowledge or resolve from the API, an email link or the console."""
        changed = self.store.act(incident.id, action, by, f"api-{self.new_id()}", now)
        self.fault("acted")
        return changed
