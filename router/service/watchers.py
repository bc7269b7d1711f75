"""What the scheduler watches besides timers: missed deadlines and shift changes.

Both write what they cause in one transaction with the marker that stops them from
being raised twice: a missed deadline is folded as a `data_late` event whose event id is
the day's (its `seen` marker is the deadline marker); a handoff's notices go into the
outbox with the handoff marker.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from router.core.deadlines import DEADLINE_SOURCE, deadline_details, past_deadlines
from router.core.events import EventIn, to_event
from router.core.message import OutgoingMessage
from router.core.rotation import Shift, shift_at
from router.core.rules import Rules
from router.core.weekly import week_report
from router.delivery.mail.compose import Composer
from router.service.folding import Fault, Intake, no_fault
from router.state import keys, outbox

_HANDOFF_FRESH = timedelta(hours=1)


def _weekly(outgoing: Shift, rules: Rules) -> bool:
    """A weekly handoff: the shift ending is a regular one, not a holiday period's."""
    return outgoing.holiday_period is None and rules.oncall.shift_days >= 7


class Watchers:
    def __init__(
        self,
        rules: Rules,
        client: redis.Redis,
        intake: Intake,
        composer: Composer,
        fault: Fault = no_fault,
        current_rules: Callable[[], Rules] | None = None,
    ) -> None:
        self.current_rules = current_rules or (lambda: rules)
        self.rules, self.redis, self.intake = rules, client, intake
        self.composer, self.fault = composer, fault

    def raise_deadlines(self, now: datetime) -> int:
        """Fold a `data_late` event for each deadline missed today, once; returns how many."""
        raised = 0
        rules = self.current_rules()  # the run-time maintenance windows laid over
        for due in past_deadlines(rules, now):
            expects = due.deadline.expects
            event_id = f"deadline:{due.pipeline}:{due.day}:{expects}"
            ready = keys.ready(due.pipeline, due.day, expects)
            store = self.intake.store
            if self.redis.exists(ready) or store.folded_before(due.pipeline, event_id, due.at):
                continue
            pipeline = rules.pipeline(due.pipeline)
            at = self.composer.local(due.at, "%H:%M %Z")
            raw = EventIn(
                pipeline=due.pipeline,
                type=due.deadline.raises,
                summary=f"{pipeline.name} data for {due.day} not ready by {at}",
                dedup_key=f"{due.pipeline}/{due.deadline.raises}/{due.day}",
                occurred_at=due.at,
                source=DEADLINE_SOURCE,
                details=deadline_details(due.day),
            )
            event = to_event(raw, rules, now)
            if self.intake.apply(event, event_id, now, received_at=due.at) is not None:
                raised += 1
            self.fault("deadline raised")
        return raised

    def _weekly_reports(
        self, incoming: Shift, outgoing: Shift, rules: Rules
    ) -> list[OutgoingMessage]:
        """The week just ended, for both engineers and whoever `oncall.report_to` names."""
        end = incoming.start
        start = end - timedelta(days=rules.oncall.shift_days)
        store = self.intake.store
        incidents = store.touched_since(start - timedelta(days=30), end)
        timelines = {incident.id: store.lines(incident.id) for incident in incidents}
        report = week_report(incidents, timelines, start, end, rules)
        names = [incoming.engineer, outgoing.engineer]
        names += [name for name in rules.oncall.report_to if name not in names]
        people = {p.name: str(p.email) for p in rules.team.engineers}
        people.update({a.name: str(a.email) for a in rules.team.analysts})
        return [
            self.composer.weekly_report(report, incoming, outgoing, name, people[name])
            for name in names
            if name in people
        ]

    def announce_handoff(self, now: datetime) -> list[str]:
        """Email the incoming and the outgoing engineer of a shift that began in the last
        hour, once; returns who was told."""
        rules = self.current_rules()
        incoming = shift_at(now, rules)
        if now - incoming.start > _HANDOFF_FRESH:
            return []
        marker = keys.handoff(incoming.start.isoformat())
        if self.redis.exists(marker):
            return []
        outgoing = shift_at(incoming.start - timedelta(microseconds=1), rules)
        people = [] if incoming.engineer == outgoing.engineer else [incoming, outgoing]
        messages = [self.composer.handoff(incoming, outgoing, person) for person in people]
        if people and _weekly(outgoing, rules):
            messages += self._weekly_reports(incoming, outgoing, rules)
        if not outbox.put_once(self.redis, marker, messages, now):
            return []
        self.fault("handoff written")
        return [person.engineer for person in people]
