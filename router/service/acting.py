"""Acknowledge or resolve an incident as a person, from any path (the API, the console,
an email link or reply, a push button, Slack): the change and its timeline line are one
write (router.state.store), and acting twice changes nothing more."""

from __future__ import annotations

from dataclasses import dataclass

from router.core.incidents import Incident
from router.core.links import LinkAction
from router.service.runtime import Runtime


def already_done(incident: Incident, action: LinkAction) -> bool:
    return incident.status == "resolved" or (
        action == "acknowledge" and incident.status == "acknowledged"
    )


def done_by(incident: Incident) -> str:
    """ "acknowledged by Kshama Kumar (push)": who made the incident what it is."""
    who = incident.resolved_by if incident.status == "resolved" else incident.acknowledged_by
    return f"{incident.status} by {who}"


@dataclass(frozen=True)
class Acted:
    incident: Incident
    """As it is after the action."""
    changed: bool
    """False when someone else acted first (two presses at once): nothing changed."""


def act(runtime: Runtime, incident: Incident, action: LinkAction, by: str) -> Acted:
    """Now: escalation stops at once, and the resolved notices are written with the
    resolve itself."""
    changed = runtime.engine.intake.act(incident, action, by, runtime.clock.now())
    if changed is not None:
        runtime.confirm_writes()
        return Acted(changed, True)
    return Acted(runtime.engine.store.get(incident.id) or incident, False)
