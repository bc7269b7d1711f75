"""Events into incidents: a batch from the queue, one event, or an action from the API.

Every fold and what it causes (timers, notices, the data_ready marker) is one
transaction (router.store); `fault` is a test hook called at the instants a crash
used to lose work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from router import keys, outbox
from router.deadletters import record_failure
from router.deadlines import DEADLINE_SOURCE, data_day, reports_fed_by
from router.decide import analyst_emails
from router.events import Action, Event, unknown_pipeline
from router.incidents import Incident, Outcome
from router.mail.compose import Composer
from router.rules import Rules
from router.store import Fold, Hold, IncidentStore
from router.tasks import QueuedEvent

log = logging.getLogger(__name__)
_READY_KEEP_S = 3 * 86400
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
        composer: Composer,
        new_id: Callable[[], str],
        fault: Fault = no_fault,
    ) -> None:
        self.rules, self.redis, self.store = rules, client, store
        self.composer, self.new_id, self.fault = composer, new_id, fault

    def ingest(self, items: list[QueuedEvent], now: datetime) -> IngestReport:
        """Fold a queued batch in one transaction (router.store.fold_many). Safe to run
        again: events folded before are skipped. A Redis error propagates (the task is
        redelivered). An event that cannot be read, or whose fold raises, is its own
        problem: it is counted towards the dead letters and the rest goes on."""
        folds, items_of, failed, dead = [], {}, 0, 0
        for item in items:
            event = item.event
            if event.pipeline not in self.rules.pipelines:  # the rules changed since
                problem = unknown_pipeline(event.pipeline, self.rules)
                failed, dead = self._set_aside(item, problem, now, failed, dead)
                continue
            effects = self._effects(event, item.event_id, now)
            folds.append(Fold(event, item.event_id, self.new_id(), effects))
            items_of[item.event_id] = item
        outcomes: list[Outcome | None] = []
        for start in range(0, len(folds), MAX_FOLD_BATCH):
            chunk = folds[start : start + MAX_FOLD_BATCH]
            try:
                outcomes += self.store.fold_many(chunk, now)
            except redis.RedisError:
                raise
            except Exception:  # one event's fold raises: fold them one by one to find it
                log.warning("a batch failed to fold; folding its events one by one")
                for fold in chunk:
                    try:
                        outcomes.append(self.store.fold_many([fold], now)[0])
                    except redis.RedisError:
                        raise
                    except Exception as error:
                        item = items_of[fold.event_id]
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

    def apply(self, event: Event, event_id: str, now: datetime) -> Outcome | None:
        outcome = self.store.fold(
            event, now, self.new_id(), event_id, self._effects(event, event_id, now)
        )
        self.fault("folded")
        return outcome

    def _effects(
        self, event: Event, event_id: str, now: datetime
    ) -> Callable[[Any, Outcome, Hold | None], None]:
        """What the fold writes besides incidents: written in its transaction."""

        def write(pipe: Any, outcome: Outcome, hold: Hold | None) -> None:
            pipeline = self.rules.pipeline(event.pipeline)
            expected = {deadline.expects for deadline in pipeline.deadlines}
            if event.type in self.rules.routing.paging.resolves or event.type in expected:
                ready = keys.ready(event.pipeline, data_day(event, self.rules), event.type)
                pipe.set(ready, event_id, ex=_READY_KEEP_S)
            if event.source == DEADLINE_SOURCE and outcome.opened is not None:
                # a missed deadline: the analysts of the reports it feeds hear of the delay
                day = str(data_day(event, self.rules))
                for report in reports_fed_by(event.pipeline, self.rules):
                    for recipient in analyst_emails(report, self.rules):
                        delayed = self.composer.report_delayed(
                            report, day, recipient, [outcome.opened], None
                        )
                        outbox.put(pipe, delayed, now)
            if outcome.decision.decision == "notify":
                links = [link.href for link in event.links]
                day = str(data_day(event, self.rules))
                pipeline = self.rules.pipeline(event.pipeline)
                for recipient in outcome.decision.recipients:
                    message = self.composer.report_ready(
                        event_id, pipeline, event.summary, links, day, recipient
                    )
                    if hold is None:
                        outbox.put(pipe, message, now)
                        continue
                    # held until the last blocker resolves (router.firing releases it);
                    # the analysts hear of the delay now
                    outbox.hold(pipe, message, [blocker.id for blocker in hold.blockers])
                    delayed = self.composer.report_delayed(
                        pipeline, day, recipient, hold.blockers, hold.estimate
                    )
                    outbox.put(pipe, delayed, now)

        return write

    def act(self, incident: Incident, action: Action, by: str, now: datetime) -> Outcome | None:
        """Acknowledge or resolve from the API or an email link."""
        event = Event(
            pipeline=incident.pipeline,
            type=incident.type,
            summary="",
            severity=None,
            action=action,
            dedup_key=incident.dedup_key,
            occurred_at=now,
            source=by,
            details={},
            links=[],
        )
        outcome = self.store.fold(event, now, self.new_id(), f"api-{self.new_id()}")
        self.fault("acted")
        return outcome
