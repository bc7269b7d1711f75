from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.config.load import load_rules
from router.core.rules import Rules
from tests.stack import Stack, running_stack
from tests.support import RULES_DIR, copy_rules, pacific

# The longest tests, started first: pytest-xdist hands tests out in collection order,
# and the three-host drills (85 s) collected last started when a worker came free and
# ended the drills' run 30 s late.
LONGEST = ("test_hosts.py", "test_bench.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST)  # stable: the rest keep order


@pytest.fixture(scope="session")
def rules() -> Rules:
    """The shipped default rules: the seed's team, pipelines and policy."""
    return load_rules(RULES_DIR)


def _two_second_steps(data: dict[str, Any]) -> None:
    for policy in data["escalation_policies"].values():
        for step in policy["steps"]:
            step["after"] = "2s"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A copy of the shipped rules whose escalation steps wait 2 s instead of 15 min."""
    return copy_rules(tmp_path / "rules", routing=_two_second_steps)


@pytest.fixture
def tuesday(rules_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The running router at Tue 2026-11-24 10:00 Pacific: business hours, Biswa Kalyan
    Rath on call."""
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-24 10:00")) as stack:
        yield stack
