"""Hostile input, generated: schemathesis builds requests from the OpenAPI schema (valid
events among them, since the schema describes the real bodies) and from mutations of
it. No answer is a 5xx; every 4xx is JSON whose `errors` say what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, find, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from router.api.app import create_api
from router.service.runtime import build_runtime
from tests.stack import TOKEN, settings_for
from tests.support import RULES_DIR

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    outbox = Path(tmp_path_factory.mktemp("fuzz")) / "outbox"
    runtime = build_runtime(settings_for(RULES_DIR, outbox, db=3))
    runtime.redis.flushdb()
    app = create_api(runtime)  # batches go to the real broker
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations(api_schema: Any) -> list[Any]:
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_every_4xx_says_why(api_schema: Any, mode: GenerationMode) -> None:
    """40 examples an operation and mode: requests the schema allows, and ones it does not."""
    for operation in _operations(api_schema):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        def answers_well(case: Any) -> None:
            response = case.call(headers=AUTH)
            where = f"{case.method} {case.formatted_path}"
            # /readyz answering 503 "no worker" is its job (no worker runs here), not a fault
            if case.path != "/readyz":
                assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if 400 <= response.status_code < 500 and not case.path.startswith("/email/"):
                said = response.json()  # the email pages answer HTML to people
                assert said["errors"] and all(isinstance(e, str) and e for e in said["errors"])

        try:
            answers_well()
        except Unsatisfiable:  # no request can break a schema without parameters (/healthz)
            assert mode == GenerationMode.NEGATIVE


def test_the_schema_lets_the_fuzzer_build_valid_events(api_schema: Any) -> None:
    operation = api_schema["/v1/events"]["POST"]
    accepted = find(
        operation.as_strategy(),
        lambda case: case.call(headers=AUTH).status_code == 202,
        settings=settings(max_examples=200, deadline=None),
    )
    assert accepted.body
