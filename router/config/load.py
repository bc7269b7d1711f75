"""Load a rules directory and check that its files agree with each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from router.config.crosscheck import (
    ONCALL_FILE,
    PIPELINES_FILE,
    ROUTING_FILE,
    TEAM_FILE,
    Data,
    cross_checks,
)
from router.config.yamlfile import RuleIssue, issues_from, read_yaml
from router.core.rules import Rules
from router.core.rules.oncall import OnCall
from router.core.rules.pipelines import Pipelines
from router.core.rules.routing import Routing
from router.core.rules.team import Team

FILES = {
    "team": TEAM_FILE,
    "oncall": ONCALL_FILE,
    "pipelines": PIPELINES_FILE,
    "routing": ROUTING_FILE,
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
    team_data, team = _model(directory, "team", Team, issues)
    oncall_data, oncall = _model(directory, "oncall", OnCall, issues)
    pipelines_data, pipelines = _model(directory, "pipelines", Pipelines, issues)
    routing_data, routing = _model(directory, "routing", Routing, issues)
    # On what was read, valid or not: a schema error hides no problem between the files.
    issues.extend(cross_checks(team_data, oncall_data, pipelines_data, routing_data))
    if issues or team is None or oncall is None or pipelines is None or routing is None:
        raise RulesInvalid(issues)
    return Rules(
        team=team,
        oncall=oncall,
        pipelines={pipeline.id: pipeline for pipeline in pipelines.pipelines},
        routing=routing,
    )


def _model(
    directory: Path, key: str, model: type[M], issues: list[RuleIssue]
) -> tuple[Data, M | None]:
    """The file's mapping as read (None if it cannot be) and its model (None if invalid)."""
    file = FILES[key]
    try:
        _check_depth(directory / file)
        data: Any = read_yaml(directory / file)
        if not isinstance(data, dict):
            raise RuleIssue(file, "", "must be a mapping of keys to values")
    except RuleIssue as issue:
        issues.append(issue)
        return None, None
    try:
        return data, model.model_validate(data)
    except ValidationError as error:
        issues.extend(issues_from(file, error))
    return data, None


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
