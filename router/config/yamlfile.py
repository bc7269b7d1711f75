"""Reading one YAML file of the rules, with errors that name the file and place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class RuleIssue(Exception):
    """One thing wrong with the rules: which file, where inside it, and what."""

    def __init__(self, file: str, path: str, message: str) -> None:
        super().__init__(f"{file}: {path}: {message}" if path else f"{file}: {message}")
        self.file, self.path, self.message = file, path, message


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `18:00` as the base-60 integer 1080; keep clock times as text."""


_CLOCK = re.compile(r"^\d{1,2}:\d{2}$")
for _digit in "0123456789":
    _Loader.yaml_implicit_resolvers.setdefault(_digit, [])
    _Loader.yaml_implicit_resolvers[_digit] = [
        ("tag:yaml.org,2002:str", _CLOCK),
        *_Loader.yaml_implicit_resolvers[_digit],
    ]


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleIssue(path.name, "", f"missing (expected in {path.parent})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RuleIssue(path.name, "", f"cannot be read: {error}") from None
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no object tags
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise RuleIssue(path.name, where, f"not valid YAML: {problem}") from None


def dotted(location: tuple[int | str, ...]) -> str:
    """('pipelines', 1, 'owners') -> 'pipelines[1].owners'."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def issues_from(file: str, error: ValidationError) -> list[RuleIssue]:
    found = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (misspelt?)"
        found.append(RuleIssue(file, dotted(item["loc"]) or "(top level)", message))
    return found
