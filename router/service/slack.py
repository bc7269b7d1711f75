"""What a press of a Slack button does (router.api.slack), and what `/oncall` answers.

A press acts as the team's engineer the Slack user is: by `slack_id` in team.yaml, or
else by the email Slack has for them (users.info) matched to an engineer's. Anyone else
(an analyst, a guest, a stranger) is refused and nothing changes. The action is recorded
as "Kshama Kumar (Slack)"; the incident's thread then gets its line and its head the new
state, through the team stream like every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from router.core.links import LinkAction
from router.core.rotation import Shift, shift_note
from router.core.rules import Rules
from router.core.rules.team import Engineer
from router.service.acting import act, already_done, done_by
from router.service.runtime import Runtime

log = logging.getLogger(__name__)

Result = Literal["acknowledged", "resolved", "unchanged", "refused"]


@dataclass(frozen=True)
class Press:
    user_id: str
    action: LinkAction
    incident_id: str


EmailOf = Callable[[str], str | None]
"""A Slack user's email (users.info)."""


def engineer_for(rules: Rules, user_id: str, email_of: EmailOf) -> Engineer | None:
    """The engineer a Slack user is; `email_of` asks Slack only when no slack_id matches."""
    team = rules.team
    person = team.by_slack_id(user_id)
    if person is not None:
        return person
    email = email_of(user_id)
    return team.by_email(email) if email else None


def act_on_press(runtime: Runtime, press: Press, email_of: EmailOf) -> tuple[Result, str]:
    """What the press did, and what to tell the person who pressed (when not acted)."""
    person = engineer_for(runtime.current_rules(), press.user_id, email_of)
    if person is None:
        log.info("Slack press refused: %s is no engineer of this team", press.user_id)
        return (
            "refused",
            "You are not one of this team's engineers in alert-router: nothing was changed.",
        )
    incident = runtime.engine.store.get(press.incident_id)
    if incident is None:
        return "refused", f"No incident {press.incident_id} in alert-router."
    if already_done(incident, press.action):
        return "unchanged", f"This incident is {done_by(incident)}."
    acted = act(runtime, incident, press.action, f"{person.name} (Slack)")
    done = acted.incident
    if not acted.changed:  # someone acted in the meantime
        return "unchanged", f"This incident is {done_by(done)}."
    log.info("Slack press: incident %s %s by %s", done.id, done.status, person.name)
    result: Result = "acknowledged" if press.action == "acknowledge" else "resolved"
    return result, done_by(done)


def oncall_answer(shifts: Sequence[Shift], zone: tzinfo) -> str:
    """`/oncall`: who is on call now, until when, and who is next from when."""
    if not shifts:
        return "Nobody is on call in the next two weeks."

    def at(moment: datetime) -> str:
        return moment.astimezone(zone).strftime("%a %b %-d %H:%M %Z")

    def note(shift: Shift) -> str:
        said = shift_note(shift)
        return f" ({said})" if said else ""

    current, *later = shifts
    lines = [f"On call now: *{current.engineer}*{note(current)}, until {at(current.end)}"]
    if later:
        upcoming = later[0]
        lines.append(f"Next: *{upcoming.engineer}*{note(upcoming)}, from {at(upcoming.start)}")
    return "\n".join(lines)
