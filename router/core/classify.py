"""Severity and category of an event: the first routing rule that matches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def _rule(event: Event, rules: Rules) -> RoutingRule:
    return _first(event.pipeline, event.type, event.severity, event.details, rules)


def _first(
    pipeline: str,
    event_type: str,
    severity: Severity | None,
    details: Mapping[str, Any],
    rules: Rules,
) -> RoutingRule:
    for rule in rules.routing.rules_for(pipeline, event_type):
        if rule.match.matches_rest(severity, details):
            return rule
    return _NO_RULE


def classify(event: Event, rules: Rules) -> Classification:
    """An explicit severity on the event wins; the category always comes from the rule."""
    rule = _rule(event, rules)
    return Classification(
        severity=event.severity or rule.severity, category=rule.category, rule=rule
    )


def severity_for(
    pipeline: str, event_type: str, details: Mapping[str, Any], rules: Rules
) -> Severity:
    """The severity an event the router raises itself (a missed deadline's) gets."""
    return _first(pipeline, event_type, None, details, rules).severity


def severity_of(event: Event, rules: Rules) -> Severity:
    """`classify(event, rules).severity`, for the API's one question (is it a page?):
    an explicit severity skips the rule scan."""
    return event.severity or _rule(event, rules).severity
