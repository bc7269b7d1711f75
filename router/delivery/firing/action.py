"""A runbook action: email a contact, or call a webhook, unless the incident was resolved
first. What it did goes on the timeline with the send's outcome."""

from __future__ import annotations

from datetime import datetime

import redis

from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.rules.pipelines import Action, WebhookAction
from router.delivery.firing import records
from router.delivery.firing.plan import (
    ActionEmail,
    Done,
    Fired,
    Plan,
    ReadAhead,
    Release,
    Send,
    WebhookCall,
)
from router.delivery.firing.run import Runner
from router.state import keys
from router.state.store import IncidentStore
from router.state.timers import Timer


def action_of(timer: Timer, incident: Incident | None, rules: Rules) -> Action | Done:
    """The action a timer is for (its round is the action's index), if it still goes."""
    if incident is None:
        return Done("stale", "no such incident", Release())
    actions = rules.pipeline(incident.pipeline).actions.get(incident.type, [])
    if incident.status == "resolved" or timer.round >= len(actions):
        return Done("nothing", f"incident {incident.status}", Release())
    return actions[timer.round]


def decide(
    timer: Timer, incident: Incident, action: Action, rules: Rules, requested_by: str | None
) -> Plan:
    """`requested_by`: who pressed a webhook's button, if someone did."""
    index = timer.round
    if isinstance(action, WebhookAction):
        by = requested_by or "the router"
        call = WebhookCall(action, incident, rules.pipeline(incident.pipeline), by)
        record = records.outcome(incident.id, "action", "action failed", action=action.label, by=by)
        send = Send(call, f"{incident.id}:action{index}", record)
        return Plan(said=f"action: {action.label}", sends=(send,))
    contact = action.email
    on_it = [incident.acknowledged_by] if incident.acknowledged_by else []
    on_it = on_it or (incident.escalation[0].notify if incident.escalation else [])
    email = str(rules.team.contact(contact).email)
    record = records.outcome(
        incident.id, "action", "action failed", action=f"email {contact}", email=email
    )
    send = Send(
        ActionEmail(incident, contact, tuple(on_it)),
        f"{incident.id}:action{index}:{contact}",
        record,
    )
    return Plan(said=f"action: email {contact}", sends=(send,))


class ActionHandler:
    def __init__(self, client: redis.Redis, store: IncidentStore, runner: Runner) -> None:
        self.redis, self.store, self.runner = client, store, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        incident = self.store.get(timer.incident)
        rules = ahead.rules
        action = action_of(timer, incident, rules)
        if isinstance(action, Done):
            return self.runner.done(member, action)
        assert incident is not None
        by = None
        if isinstance(action, WebhookAction):
            requested = self.redis.get(keys.action_requested(incident.id, timer.round))
            by = requested.decode() if isinstance(requested, bytes) else None
        return self.runner.run(member, decide(timer, incident, action, rules, by), now)
