"""Who gets a page on which channel, and when: the pure half of push delivery.

Every page's email goes at once. A person's contact methods (team.yaml) are pushed on
their notification rules for the incident's urgency: high for what pages at night (P1,
daily data), low for the rest; each push is sent only while the incident is still
triggered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from router.core.durations import format_duration
from router.core.incidents import Incident
from router.core.rules import Rules

Urgency = Literal["high", "low"]


def urgency(incident: Incident, rules: Rules) -> Urgency:
    """High for what the paging policy lets wake someone at night."""
    paging = rules.routing.paging
    if incident.severity in paging.off_hours or incident.category in paging.always_page_categories:
        return "high"
    return "low"


@dataclass(frozen=True)
class Push:
    """One push of a page to one of a person's contact methods."""

    person: str
    rule: int
    """Which entry of the person's notification rules."""
    method: int
    """Which of the person's contact methods."""
    due: datetime


def pushes(incident: Incident, names: list[str], step_due: datetime, rules: Rules) -> list[Push]:
    """Every push an escalation step makes, due relative to the step's email."""
    level = urgency(incident, rules)
    planned = []
    for name in names:
        person = rules.team.engineer(name)
        delays_s = getattr(rules.team.rules_for(person), level)
        for rule, after_s in enumerate(delays_s):
            for method in range(len(person.contact_methods)):
                planned.append(Push(name, rule, method, step_due + timedelta(seconds=after_s)))
    return planned


def describe_delays(delays_s: list[int]) -> str:
    """A person's pushes for one urgency, as `router check` and the console show them."""
    return ", ".join(format_duration(s) if s else "at once" for s in delays_s) or "never"
