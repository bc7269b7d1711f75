"""The checks between the rules files, run on whatever each file holds that can be read.

They read each file's YAML as written rather than its validated model, so an entry that
fails its schema (the model reports that) hides nothing else: the other entries, and the
readable fields of the broken one, are still checked. A name is only called unknown
against a list that could be read: a broken team.yaml does not make every owner unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError

from router.config import contact_methods
from router.config.yamlfile import RuleIssue
from router.core.rules.oncall import HolidayPeriod, Override
from router.core.rules.pipelines import Pipeline, Pipelines
from router.core.rules.routing import ROLE_TARGETS, Paging, Routing
from router.core.rules.team import Analyst, Contact, Engineer, Team

TEAM_FILE = "team.yaml"
ONCALL_FILE = "oncall.yaml"
PIPELINES_FILE = "pipelines.yaml"
ROUTING_FILE = "routing.yaml"

Data = dict[str, Any] | None
"""A file's YAML mapping as read; None when the file could not be read at all."""

Names = frozenset[str] | None
"""The names a list defines; None when the list cannot be read (nothing is checked
against it then)."""

M = TypeVar("M", bound=BaseModel)
_POLICY_KEYS = ("business_hours_policy", "off_hours_policy", "unowned_policy")


@dataclass(frozen=True)
class Defined:
    """What the files define for the others to name."""

    engineers: Names
    analysts: Names
    contacts: Names
    pipelines: Names
    policies: Names

    @property
    def people(self) -> Names:
        if self.engineers is None or self.analysts is None:
            return None
        return self.engineers | self.analysts

    @property
    def targets(self) -> Names:
        return None if self.engineers is None else self.engineers | set(ROLE_TARGETS)


def cross_checks(team: Data, oncall: Data, pipelines: Data, routing: Data) -> Iterator[RuleIssue]:
    """Every check between files, and those within one file that the models leave to
    loading (overlaps, names used twice, time zones, contact methods)."""
    defined = _defined_names(team, pipelines, routing)
    yield from _contact_method_checks(team)
    yield from _oncall_checks(oncall, defined, _team_zone(team))
    yield from _pipeline_checks(pipelines, defined)
    yield from _routing_checks(routing, defined)


def _defined_names(team: Data, pipelines: Data, routing: Data) -> Defined:
    return Defined(
        engineers=_names(_value(team, "engineers", Team), Engineer),
        analysts=_names(_value(team, "analysts", Team), Analyst),
        contacts=_names(_value(team, "contacts", Team), Contact),
        pipelines=_names(_value(pipelines, "pipelines", Pipelines), Pipeline, key="id"),
        policies=_policy_names(_value(routing, "escalation_policies", Routing)),
    )


def _policy_names(policies: object) -> Names:
    if not isinstance(policies, dict):
        return None
    return frozenset(name for name in policies if isinstance(name, str))


def _value(data: object, field: str, model: type[BaseModel]) -> Any:
    """`data[field]`; the model's default when it is left out; None when that cannot be
    told: no mapping, a required field, or a misspelt key that may be the one meant."""
    if not isinstance(data, dict):
        return None
    if field in data:
        return data[field]
    info = model.model_fields[field]
    if info.is_required() or not set(data) <= set(model.model_fields):
        return None
    default = info.get_default(call_default_factory=True)
    return default.model_dump() if isinstance(default, BaseModel) else default


def _names(entries: object, model: type[BaseModel], key: str = "name") -> Names:
    """The names a list of entries defines, each under `key`. An entry whose `key` is
    misspelt still names someone: the texts under keys its model does not know count too,
    so that typo is one problem rather than one per mention of the name."""
    if not isinstance(entries, list):
        return None
    names: set[str] = set()
    for entry in entries:
        if isinstance(entry, str):
            names.add(entry)
        elif isinstance(entry, dict):
            if isinstance(entry.get(key), str):
                names.add(entry[key])
            else:
                names.update(
                    value
                    for name, value in entry.items()
                    if name not in model.model_fields and isinstance(value, str)
                )
    return frozenset(names)


def _items(data: object, field: str) -> list[tuple[int, Any]]:
    """The items of the list `data[field]`, each with its index there."""
    items = data.get(field) if isinstance(data, dict) else None
    return list(enumerate(items)) if isinstance(items, list) else []


def _mappings(data: object, field: str) -> list[tuple[int, dict[str, Any]]]:
    return [(index, item) for index, item in _items(data, field) if isinstance(item, dict)]


def _texts(value: object) -> list[str]:
    """The texts of a list; any other item is the schema's to report."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _one_or_many(value: object) -> list[str]:
    """A name or a list of names, as routing.yaml's `Names` fields take them."""
    return [value] if isinstance(value, str) else _texts(value)


def _valid(model: type[M], items: list[tuple[int, Any]]) -> dict[int, M]:
    """The items that pass their schema, by index; the file's model reports the others."""
    valid: dict[int, M] = {}
    for index, item in items:
        try:
            valid[index] = model.model_validate(item)
        except ValidationError:
            continue
    return valid


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, "America"
        return None


def _team_zone(team: Data) -> ZoneInfo | None:
    return _zone(_value(team, "timezone", Team))


def _unknown(
    names: list[str], known: Names, file: str, path: str, kind: str
) -> Iterator[RuleIssue]:
    if known is None:
        return
    for name in names:
        if name not in known:
            where = PIPELINES_FILE if kind == "pipeline" else TEAM_FILE
            yield RuleIssue(file, path, f"unknown {kind} {name!r} (not in {where})")


def _unknown_policy(name: str, policies: Names, path: str) -> Iterator[RuleIssue]:
    if policies is not None and name not in policies:
        yield RuleIssue(ROUTING_FILE, path, f"unknown escalation policy {name!r}")


def _contact_method_checks(team: Data) -> Iterator[RuleIssue]:
    """Each URL parsed by apprise itself; the message names the person and the entry and
    never prints the URL (it may hold a token), only its scheme."""
    for index, person in _mappings(team, "engineers"):
        name = person.get("name")
        who = name if isinstance(name, str) else "an unnamed engineer"
        for number, url in _items(person, "contact_methods"):
            if isinstance(url, str) and not contact_methods.is_valid(url):
                yield RuleIssue(
                    TEAM_FILE,
                    f"engineers[{index}].contact_methods[{number}]",
                    f"{who}'s contact method #{number + 1} "
                    f"({contact_methods.masked(url)}) is not a notification URL apprise "
                    "can use",
                )
    chat = team.get("chat") if team is not None else None
    if isinstance(chat, str) and not contact_methods.is_valid(chat):
        yield RuleIssue(
            TEAM_FILE,
            "chat",
            f"the team chat URL ({contact_methods.masked(chat)}) is not a "
            "notification URL apprise can use",
        )


def _oncall_checks(oncall: Data, defined: Defined, zone: ZoneInfo | None) -> Iterator[RuleIssue]:
    oc = ONCALL_FILE
    for index, name in _items(oncall, "rotation"):
        if isinstance(name, str):
            yield from _unknown([name], defined.engineers, oc, f"rotation[{index}]", "engineer")
    periods = _valid(HolidayPeriod, _items(oncall, "holiday_periods"))
    yield from _overlaps(periods, oc, "holiday_periods", "holiday period")
    report_to = _texts(oncall.get("report_to")) if oncall is not None else []
    yield from _unknown(report_to, defined.people, oc, "report_to", "person")
    spans = _override_spans(_valid(Override, _items(oncall, "overrides")), zone)
    for index, override in _mappings(oncall, "overrides"):
        at = f"overrides[{index}]"
        engineer = override.get("engineer")
        if isinstance(engineer, str):
            yield from _unknown([engineer], defined.engineers, oc, f"{at}.engineer", "engineer")
        if index not in spans:
            continue
        start, end = spans[index]
        if end <= start:
            yield RuleIssue(oc, at, "end must be after start")
        for earlier, (earlier_start, earlier_end) in spans.items():
            if earlier < index and start < earlier_end and earlier_start < end:
                yield RuleIssue(oc, at, f"overlaps overrides[{earlier}]")


def _override_spans(
    overrides: dict[int, Override], zone: ZoneInfo | None
) -> dict[int, tuple[datetime, datetime]]:
    """Each valid override's [start, end) in UTC, by index. Naive times are the team's;
    without a readable zone they are compared as UTC, but only when all the times are
    naive or all aware: any zone then shifts them alike."""
    if zone is None:
        naive = {moment.tzinfo is None for o in overrides.values() for moment in (o.start, o.end)}
        if len(naive) > 1:
            return {}
        zone = ZoneInfo("UTC")
    return {index: override.span(zone) for index, override in overrides.items()}


def _overlaps(
    spans: dict[int, HolidayPeriod], file: str, path: str, kind: str
) -> Iterator[RuleIssue]:
    for index, span in spans.items():
        for later, other in spans.items():
            if later > index and span.overlaps(other):
                yield RuleIssue(file, f"{path}[{later}]", f"{kind} overlaps {path}[{index}]")


def _pipeline_checks(pipelines: Data, defined: Defined) -> Iterator[RuleIssue]:
    pf = PIPELINES_FILE
    seen: set[str] = set()
    for index, pipeline in _mappings(pipelines, "pipelines"):
        at = f"pipelines[{index}]"
        pipeline_id = pipeline.get("id")
        if isinstance(pipeline_id, str):
            if pipeline_id in seen:
                yield RuleIssue(pf, f"{at}.id", f"pipeline {pipeline_id!r} is listed twice")
            seen.add(pipeline_id)
        owners = pipeline.get("owners")
        for role in ("primary", "secondary"):
            name = owners.get(role) if isinstance(owners, dict) else None
            if isinstance(name, str) and name:
                path = f"{at}.owners.{role}"
                yield from _unknown([name], defined.engineers, pf, path, "engineer")
        analysts = _texts(pipeline.get("report_to"))
        yield from _unknown(analysts, defined.analysts, pf, f"{at}.report_to", "analyst")
        built_from = _texts(pipeline.get("built_from"))
        yield from _unknown(built_from, defined.pipelines, pf, f"{at}.built_from", "pipeline")
        actions = pipeline.get("actions")
        for event_type in actions if isinstance(actions, dict) else {}:
            for number, action in _mappings(actions, event_type):
                email = action.get("email")
                if isinstance(email, str):
                    path = f"{at}.actions.{event_type}[{number}].email"
                    yield from _unknown([email], defined.contacts, pf, path, "contact")
        source_timezone = pipeline.get("source_timezone")
        if isinstance(source_timezone, str) and source_timezone and not _zone(source_timezone):
            yield RuleIssue(pf, f"{at}.source_timezone", f"unknown time zone {source_timezone!r}")


def _routing_checks(routing: Data, defined: Defined) -> Iterator[RuleIssue]:
    rf = ROUTING_FILE
    for index, rule in _mappings(routing, "rules"):
        at = f"rules[{index}]"
        match = rule.get("match")
        matched = _one_or_many(match.get("pipeline")) if isinstance(match, dict) else []
        yield from _unknown(matched, defined.pipelines, rf, f"{at}.match.pipeline", "pipeline")
        escalation = rule.get("escalation")
        if isinstance(escalation, str) and escalation:
            yield from _unknown_policy(escalation, defined.policies, f"{at}.escalation")
    names_seen: set[str] = set()
    for index, integration in _mappings(routing, "integrations"):
        at = f"integrations[{index}]"
        pipeline = integration.get("pipeline")
        if isinstance(pipeline, str):
            yield from _unknown([pipeline], defined.pipelines, rf, f"{at}.pipeline", "pipeline")
        name = integration.get("name")
        if isinstance(name, str):
            if name in names_seen:
                yield RuleIssue(rf, f"{at}.name", "integration name used twice")
            names_seen.add(name)
    for index, window in _mappings(routing, "maintenance"):
        at = f"maintenance[{index}].pipelines"
        chosen = window.get("pipelines")
        if chosen != "all":
            yield from _unknown(_one_or_many(chosen), defined.pipelines, rf, at, "pipeline")
    paging = _value(routing, "paging", Routing)
    for key in _POLICY_KEYS:
        policy = _value(paging, key, Paging)
        if isinstance(policy, str):
            yield from _unknown_policy(policy, defined.policies, f"paging.{key}")
    yield from _target_checks(routing, defined.targets)


def _target_checks(routing: Data, targets: Names) -> Iterator[RuleIssue]:
    policies = routing.get("escalation_policies") if routing is not None else None
    if targets is None or not isinstance(policies, dict):
        return
    for name, policy in policies.items():
        for index, step in _mappings(policy, "steps"):
            for target in _one_or_many(step.get("notify")):
                if target not in targets:
                    yield RuleIssue(
                        ROUTING_FILE,
                        f"escalation_policies.{name}.steps[{index}].notify",
                        f"unknown target {target!r}: use primary, secondary, oncall, team "
                        "or an engineer's name",
                    )
