"""Load a rules directory and check that its files agree with each other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ValidationError

from router.config import contact_methods
from router.config.yamlfile import RuleIssue, issues_from, read_yaml
from router.core.rules import Rules
from router.core.rules.oncall import OnCall
from router.core.rules.pipelines import EmailAction, Pipelines
from router.core.rules.routing import ROLE_TARGETS, Routing
from router.core.rules.team import Team

FILES = {
    "team": "team.yaml",
    "oncall": "oncall.yaml",
    "pipelines": "pipelines.yaml",
    "routing": "routing.yaml",
}

M = TypeVar("M", bound=BaseModel)

# Far deeper than any rules file needs; PyYAML builds documents recursively, so a file
# nested a thousand deep would otherwise end in a RecursionError.
MAX_DEPTH = 64
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


class RulesInvalid(Exception):
    def __init__(self, issues: list[RuleIssue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


def load_rules(directory: Path) -> Rules:
    """Every file is read and every problem collected before anything is returned."""
    if not directory.is_dir():
        raise RulesInvalid([RuleIssue(str(directory), "", "not a directory of rules")])
    issues: list[RuleIssue] = []
    team = _model(directory, "team", Team, issues)
    oncall = _model(directory, "oncall", OnCall, issues)
    pipelines = _model(directory, "pipelines", Pipelines, issues)
    routing = _model(directory, "routing", Routing, issues)
    issues.extend(_cross_checks(team, oncall, pipelines, routing))  # whatever parsed
    if issues or team is None or oncall is None or pipelines is None or routing is None:
        raise RulesInvalid(issues)
    return Rules(
        team=team,
        oncall=oncall,
        pipelines={pipeline.id: pipeline for pipeline in pipelines.pipelines},
        routing=routing,
    )


def _model(directory: Path, key: str, model: type[M], issues: list[RuleIssue]) -> M | None:
    file = FILES[key]
    try:
        _check_depth(directory / file)
        data: Any = read_yaml(directory / file)
        if not isinstance(data, dict):
            raise RuleIssue(file, "", "must be a mapping of keys to values")
        return model.model_validate(data)
    except RuleIssue as issue:
        issues.append(issue)
    except ValidationError as error:
        issues.extend(issues_from(file, error))
    return None


def _check_depth(path: Path) -> None:
    """Refuse a file nested deeper than MAX_DEPTH, read as a stream of events (the parser
    keeps its own stack, so no depth can blow it). A file that cannot be read or parsed is
    left to read_yaml, which says why."""
    depth = 0
    try:
        with path.open(encoding="utf-8") as stream:
            for event in yaml.parse(stream, Loader=yaml.SafeLoader):
                if isinstance(event, _CLOSE):
                    depth -= 1
                elif isinstance(event, _OPEN):
                    depth += 1
                    if depth > MAX_DEPTH:
                        mark = event.start_mark
                        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                        raise RuleIssue(path.name, where, f"nested deeper than {MAX_DEPTH} levels")
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return


def _unknown(
    names: list[str], known: set[str], file: str, path: str, kind: str
) -> Iterator[RuleIssue]:
    for name in names:
        if name not in known:
            where = "pipelines.yaml" if kind == "pipeline" else "team.yaml"
            yield RuleIssue(file, path, f"unknown {kind} {name!r} (not in {where})")


def _cross_checks(
    team: Team | None, oncall: OnCall | None, pipelines: Pipelines | None, routing: Routing | None
) -> Iterator[RuleIssue]:
    """The checks between files, for every pair of files that parsed: one broken file
    does not hide the others' problems."""
    if team is None:
        return
    yield from _contact_method_checks(team)
    if oncall is not None:
        yield from _oncall_checks(team, oncall)
    if pipelines is not None:
        yield from _pipeline_checks(team, pipelines)
        if routing is not None:
            yield from _routing_checks(team, pipelines, routing)


def _contact_method_checks(team: Team) -> Iterator[RuleIssue]:
    """Each URL parsed by apprise itself; the message names the person and the entry and
    never prints the URL (it may hold a token), only its scheme."""
    tf = FILES["team"]
    for index, person in enumerate(team.engineers):
        for number, url in enumerate(person.contact_methods):
            if not contact_methods.is_valid(url):
                yield RuleIssue(
                    tf,
                    f"engineers[{index}].contact_methods[{number}]",
                    f"{person.name}'s contact method #{number + 1} "
                    f"({contact_methods.masked(url)}) is not a notification URL apprise "
                    "can use",
                )
    if team.chat is not None and not contact_methods.is_valid(team.chat):
        yield RuleIssue(
            tf,
            "chat",
            f"the team chat URL ({contact_methods.masked(team.chat)}) is not a "
            "notification URL apprise can use",
        )


def _oncall_checks(team: Team, oncall: OnCall) -> Iterator[RuleIssue]:
    engineers = {person.name for person in team.engineers}
    unknown = _unknown
    oc = FILES["oncall"]
    for index, name in enumerate(oncall.rotation):
        yield from unknown([name], engineers, oc, f"rotation[{index}]", "engineer")
    yield from _overlaps(oncall.holiday_periods, oc, "holiday_periods", "holiday period")
    people = engineers | {analyst.name for analyst in team.analysts}
    yield from unknown(oncall.report_to, people, oc, "report_to", "person")
    spans = [override.span(team.zone) for override in oncall.overrides]
    for index, override in enumerate(oncall.overrides):
        at = f"overrides[{index}]"
        yield from unknown([override.engineer], engineers, oc, f"{at}.engineer", "engineer")
        start, end = spans[index]
        if end <= start:
            yield RuleIssue(oc, at, "end must be after start")
        for earlier in range(index):
            if start < spans[earlier][1] and spans[earlier][0] < end:
                yield RuleIssue(oc, at, f"overlaps overrides[{earlier}]")


def _pipeline_checks(team: Team, pipelines: Pipelines) -> Iterator[RuleIssue]:
    engineers = {person.name for person in team.engineers}
    analysts = {person.name for person in team.analysts}
    unknown = _unknown
    pf = FILES["pipelines"]
    seen: set[str] = set()
    for index, pipeline in enumerate(pipelines.pipelines):
        at = f"pipelines[{index}]"
        if pipeline.id in seen:
            yield RuleIssue(pf, f"{at}.id", f"pipeline {pipeline.id!r} is listed twice")
        seen.add(pipeline.id)
        for role in ("primary", "secondary"):
            name = getattr(pipeline.owners, role)
            if name:
                yield from unknown([name], engineers, pf, f"{at}.owners.{role}", "engineer")
        yield from unknown(pipeline.report_to or [], analysts, pf, f"{at}.report_to", "analyst")
        known = {p.id for p in pipelines.pipelines}
        yield from unknown(pipeline.built_from, known, pf, f"{at}.built_from", "pipeline")
        contacts = {contact.name for contact in team.contacts}
        for event_type, actions in pipeline.actions.items():
            for number, action in enumerate(actions):
                if isinstance(action, EmailAction):
                    path = f"{at}.actions.{event_type}[{number}].email"
                    yield from unknown([action.email], contacts, pf, path, "contact")
        if pipeline.source_timezone:
            try:
                ZoneInfo(pipeline.source_timezone)
            except (ZoneInfoNotFoundError, ValueError):
                yield RuleIssue(
                    pf, f"{at}.source_timezone", f"unknown time zone {pipeline.source_timezone!r}"
                )


def _routing_checks(team: Team, pipelines: Pipelines, routing: Routing) -> Iterator[RuleIssue]:
    engineers = {person.name for person in team.engineers}
    seen = {pipeline.id for pipeline in pipelines.pipelines}
    unknown = _unknown
    rf = FILES["routing"]
    policies = set(routing.escalation_policies)
    for index, rule in enumerate(routing.rules):
        at = f"rules[{index}]"
        yield from unknown(rule.match.pipeline or [], seen, rf, f"{at}.match.pipeline", "pipeline")
        if rule.escalation and rule.escalation not in policies:
            yield RuleIssue(
                rf, f"{at}.escalation", f"unknown escalation policy {rule.escalation!r}"
            )
    names_seen: set[str] = set()
    for index, integration in enumerate(routing.integrations):
        at = f"integrations[{index}]"
        yield from unknown([integration.pipeline], seen, rf, f"{at}.pipeline", "pipeline")
        if integration.name in names_seen:
            yield RuleIssue(rf, f"{at}.name", "integration name used twice")
        names_seen.add(integration.name)
    for key in ("business_hours_policy", "off_hours_policy", "unowned_policy"):
        name = getattr(routing.paging, key)
        if name not in policies:
            yield RuleIssue(rf, f"paging.{key}", f"unknown escalation policy {name!r}")
    targets = engineers | set(ROLE_TARGETS)
    for name, policy in routing.escalation_policies.items():
        for index, step in enumerate(policy.steps):
            for target in step.notify:
                if target not in targets:
                    yield RuleIssue(
                        rf,
                        f"escalation_policies.{name}.steps[{index}].notify",
                        f"unknown target {target!r}: use primary, secondary, oncall, team "
                        "or an engineer's name",
                    )


def _overlaps(spans: list[Any], file: str, path: str, kind: str) -> Iterator[RuleIssue]:
    for index, span in enumerate(spans):
        for later in range(index + 1, len(spans)):
            if span.overlaps(spans[later]):
                yield RuleIssue(file, f"{path}[{later}]", f"{kind} overlaps {path}[{index}]")
