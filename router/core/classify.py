"""Severity and category of an event: the first routing rule that matches."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from router.core.events import Event
from router.core.rules import Rules
from router.core.rules.routing import RoutingRule, Severity

_NO_RULE = RoutingRule(name="no rule matched (default P3)", severity="P3")


class Classification(BaseModel):
    model_config = ConfigDict(frozen=True)

    severity: Severity
    category: str | None
    rule: RoutingRule


def classify(event: Event, rules: Rules) -> Classification:
    """An explicit severity on the event wins; the category always comes from the rule."""
    rule = next(
        (
            rule
            for rule in rules.routing.rules
            if rule.match.matches(event.pipeline, event.type, event.severity, event.details)
        ),
        _NO_RULE,
    )
    return Classification(
        severity=event.severity or rule.severity, category=rule.category, rule=rule
    )
