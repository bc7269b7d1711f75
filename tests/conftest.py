from __future__ import annotations

import pytest

from router.rules import Rules
from router.rules.load import load_rules
from tests.support import RULES_DIR


@pytest.fixture(scope="session")
def rules() -> Rules:
    """The shipped default rules: the seed's team, pipelines and policy."""
    return load_rules(RULES_DIR)
