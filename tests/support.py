"""Helpers shared by the tests: fixed instants and edited copies of the shipped rules."""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from router.config.load import load_rules
from router.config.yamlfile import read_yaml
from router.core.events import EventIn, to_event
from router.core.rules import Rules
from router.queue.tasks import QueuedEvent

RULES_DIR = Path(__file__).resolve().parents[1] / "rules"
PACIFIC = ZoneInfo("America/Los_Angeles")


def pacific(text: str) -> datetime:
    """Wall-clock time in the team's zone, like '2026-11-26 03:00' (first one in a DST overlap)."""
    return datetime.fromisoformat(text).replace(tzinfo=PACIFIC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def copy_rules(target: Path, **edits: Callable[[Any], None]) -> Path:
    """A copy of the shipped rules in `target`, each file edited by `edits[name]` (no .yaml)."""
    shutil.copytree(RULES_DIR, target, dirs_exist_ok=True)
    for name, edit in edits.items():
        path = target / f"{name}.yaml"
        data = read_yaml(path)
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def without_deadlines(source: Path, target: Path) -> Path:
    """A copy of the rules in `source` whose pipelines have no deadlines, for the router's
    processes that read the real clock: a run between 19:00 Pacific and midnight (03:00 to
    08:00 UTC) would otherwise see today's unit-data deadline page in the middle of a
    drill that counts pages."""
    shutil.copytree(source, target, dirs_exist_ok=True)
    path = target / "pipelines.yaml"
    data = read_yaml(path)
    for pipeline in data["pipelines"]:
        pipeline["deadlines"] = []
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def edited_rules(target: Path, **edits: Callable[[Any], None]) -> Rules:
    return load_rules(copy_rules(target, **edits))


@functools.cache
def _shipped_rules() -> Rules:
    return load_rules(RULES_DIR)


def queued(event_id: str, sent: dict[str, object], received_at: datetime) -> QueuedEvent:
    """An event as the API queues it, checked against the repository's rules."""
    event = to_event(EventIn.model_validate(sent), _shipped_rules(), received_at)
    return QueuedEvent(event_id, received_at, event)
