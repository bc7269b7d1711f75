"""routing.yaml: severity rules, the paging policy and escalation policies."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from router.core.durations import DurationS
from router.core.maintenance import Weekly, Window
from router.core.rules.base import Strict

Severity = Literal["P1", "P2", "P3", "P4"]
SEVERITIES: tuple[Severity, ...] = ("P1", "P2", "P3", "P4")

# Targets an escalation step may name besides an engineer's own name.
ROLE_TARGETS = ("primary", "secondary", "oncall", "team")
_KINDS_REMEMBERED = 4096


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


Names = Annotated[list[str], BeforeValidator(_one_or_many)]
SeverityList = Annotated[list[Severity], BeforeValidator(_one_or_many)]


class Match(Strict):
    """All given fields must match; a list matches any of its values."""

    pipeline: Names | None = None
    type: Names | None = None
    severity: SeverityList | None = None
    details: dict[str, str | int | float | bool] = Field(default_factory=dict)

    def takes(self, pipeline: str, event_type: str) -> bool:
        """The pipeline and type match: what `Routing.rules_for` indexes by."""
        return (self.pipeline is None or pipeline in self.pipeline) and (
            self.type is None or event_type in self.type
        )

    def matches_rest(self, severity: Severity | None, details: Mapping[str, Any]) -> bool:
        """The severity and details match: asked of the rules `takes` picked."""
        return (self.severity is None or severity in self.severity) and all(
            key in details and details[key] == want for key, want in self.details.items()
        )


class RoutingRule(Strict):
    name: str
    match: Match = Field(default_factory=Match)
    severity: Severity
    category: str | None = None
    escalation: str | None = None
    """Escalation policy for incidents this rule classifies, instead of the paging default."""


class EscalationStep(Strict):
    notify: Names = Field(min_length=1)
    after: DurationS = 15 * 60
    """How long this step waits for an acknowledgement before the next one runs."""


class EscalationPolicy(Strict):
    steps: list[EscalationStep] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=10)
    """How many more times the whole list runs if nobody acknowledges."""


def _p1_to_p3() -> list[Severity]:
    return list(SEVERITIES[:3])


def _p1() -> list[Severity]:
    return ["P1"]


class Paging(Strict):
    business_hours: SeverityList = Field(default_factory=_p1_to_p3)
    off_hours: SeverityList = Field(default_factory=_p1)
    always_page_categories: Names = Field(default_factory=lambda: ["daily_data"])
    notify_types: Names = Field(default_factory=lambda: ["report_ready"])
    resolves: dict[str, Names] = Field(
        default_factory=lambda: {"data_ready": ["data_missing", "data_late"]}
    )
    report_blockers: Names = Field(
        default_factory=lambda: ["chart_broken", "data_late", "data_missing"]
    )
    """Open incidents of these types on a pipeline, or on a pipeline it is built from,
    hold its report_ready notice until they resolve; the analysts are told of the delay."""
    business_hours_policy: str = "owners_first"
    off_hours_policy: str = "oncall_first"
    unowned_policy: str = "oncall_then_team"


class Integration(Strict):
    """A PagerDuty-style integration: its events go to `pipeline`. Its secret routing key
    is never in the rules: it comes from ROUTER_ROUTING_KEYS (`name=key`)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    pipeline: str


def _weekly(value: object) -> object:
    if isinstance(value, str):
        Weekly.parse(value)  # WindowInvalid is a ValueError: pydantic names the field
    return value


class MaintenanceRule(Strict):
    """A weekly maintenance window (router.core.maintenance): matching events page nobody
    during it, a P1 only if `page_p1` is false."""

    pipelines: Literal["all"] | Names = "all"
    types: Names | None = None
    """The event types it mutes; none given: every type."""
    weekly: Annotated[str, BeforeValidator(_weekly)]
    """In team time, like 'Sat 02:00-06:00'."""
    reason: str = Field(min_length=1)
    page_p1: bool = True

    def window(self, index: int) -> Window:
        """As the core reads it; its id names it in the rules (`rules-1` is the first)."""
        return Window(
            f"rules-{index + 1}",
            self.reason,
            None if self.pipelines == "all" else frozenset(self.pipelines),
            None if self.types is None else frozenset(self.types),
            self.page_p1,
            weekly=Weekly.parse(self.weekly),
        )


class Routing(Strict):
    rules: list[RoutingRule] = Field(min_length=1)
    integrations: list[Integration] = Field(default_factory=list)
    paging: Paging = Field(default_factory=Paging)
    escalation_policies: dict[str, EscalationPolicy] = Field(min_length=1)
    ack_timeout: dict[Severity, DurationS] = Field(default_factory=dict)
    """An acknowledged incident of this severity, neither resolved nor snoozed, goes back
    to triggered after this long (PagerDuty's acknowledgement timeout)."""
    maintenance: list[MaintenanceRule] = Field(default_factory=list)

    @cached_property
    def maintenance_windows(self) -> tuple[Window, ...]:
        """The weekly windows of the rules, as the core reads them."""
        return tuple(rule.window(index) for index, rule in enumerate(self.maintenance))

    @cached_property
    def _by_kind(self) -> dict[tuple[str, str], tuple[RoutingRule, ...]]:
        # A cached property, not a private attribute: pydantic's lookup of those cost
        # more than the scan it spares. Equality and dumps ignore it.
        return {}

    def rules_for(self, pipeline: str, event_type: str) -> tuple[RoutingRule, ...]:
        """The rules, in order, whose pipeline and type match: each event is classified
        against these few, and a storm is one pair. Remembered, but for a bounded number
        of pairs (the type is the sender's text)."""
        key = (pipeline, event_type)
        found = self._by_kind.get(key)
        if found is None:
            if len(self._by_kind) >= _KINDS_REMEMBERED:
                self._by_kind.clear()
            found = tuple(rule for rule in self.rules if rule.match.takes(pipeline, event_type))
            self._by_kind[key] = found
        return found
