"""The schema and the checks agree: schemathesis runs every one of its checks (response
conformance, accepting what the schema allows, refusing what it does not, Allow headers,
auth...) over every operation, examples and coverage phases too. What no schema can say is
written down in docs/limits.md, and allowed here, one entry each, by the error it gives."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

from router.api.app import create_api
from router.service.runtime import Runtime, build_runtime
from tests.stack import TOKEN, settings_for
from tests.support import RULES_DIR

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass(frozen=True)
class Known:
    """A failure written down in docs/limits.md: which operation, which check (by its
    schemathesis code) and, for a refusal, the error the router gives (each error of the
    answer must match one of the operation's)."""

    method: str
    path: str
    code: str
    error: str = ""


_RANGE = r"(\[\d+\] )?occurred_at: must be between 1970 and 2200"
KNOWN = [
    # Instants: JSON Schema can say "a date-time" but not "between 1970 and 2200"
    Known("POST", "/v1/events", "ST202", _RANGE),
    Known("POST", "/v1/alertmanager", "ST202", _RANGE),
    # Relations between fields, or with what is stored: no schema says them
    Known("POST", "/v1/overrides", "ST202", r"end: end must be after start"),
    Known("POST", "/v1/overrides", "ST202", r"start: overlaps the override of .*"),
    Known("POST", "/v1/absences", "ST202", r"to: \S+ is before from \S+"),
    Known("POST", "/v1/absences", "ST202", r"to: an absence is at most \d+ days"),
    Known("POST", "/v1/overrides", "ST202", r"end: an override is at most \d+ days"),
    Known("POST", "/v1/maintenance", "ST202", r"end: \S+ is not after the start"),
    Known("POST", "/v1/maintenance", "ST202", r"end: a window lasts at most \d+ days"),
    # Opaque secrets: a signed email-link token, a cursor from a previous page
    Known("GET", "/email/{action}", "ST202"),
    Known("POST", "/email/{action}", "ST202"),
    Known("GET", "/v1/incidents", "ST202", r"next: not a cursor from this API"),
    # /readyz answers 503 while no worker is alive: that is its job (none runs here)
    Known("GET", "/readyz", "ST101"),
    # A body over 512 KB is refused with a 413 whatever it holds: JSON Schema has no
    # keyword for a size in bytes, and schemathesis does not count a 413 as a refusal
    *(Known("POST", "*", code, r"body: too large") for code in ("ST201", "ST202")),
]


def _errors(response: Any) -> list[str]:
    try:
        said = response.json()
    except ValueError:
        return []
    errors = said.get("errors") if isinstance(said, dict) else None
    return [str(e) for e in errors] if isinstance(errors, list) else []


def _known(method: str, path: str, failure: Failure, response: Any) -> bool:
    entries = [
        k for k in KNOWN if (k.method, k.code) == (method, failure.code) and k.path in (path, "*")
    ]
    if not entries:
        return False
    patterns = [k.error for k in entries if k.error]
    if len(patterns) < len(entries):  # an entry without an error: any answer
        return True
    errors = _errors(response)
    return bool(errors) and all(any(re.fullmatch(p, e) for p in patterns) for e in errors)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Any]]:
    outbox = Path(tmp_path_factory.mktemp("conformance")) / "outbox"
    runtime = build_runtime(settings_for(RULES_DIR, outbox, db=6))
    runtime.redis.flushdb()
    yield runtime, schemathesis.openapi.from_asgi("/openapi.json", create_api(runtime))
    runtime.redis.flushdb()


# The phases `schemathesis run` has, but stateful: the schema's examples, the coverage
# cases (boundaries, wrong types, undocumented methods) and 15 generated cases an operation
MODES = [HypothesisTestMode.EXAMPLES, HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING]
# The same cases every run (derandomize): a gate, not a search; `schemathesis run` searches.
BOUNDED = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)


def test_every_check_passes_or_is_written_down(api_schema: tuple[Runtime, Any]) -> None:
    runtime, schema = api_schema
    load_all_checks()
    every_check = list(CHECKS.get_all())
    unknown: dict[tuple[str, str, str], str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        # each operation on an empty store: the fuzzer's overrides, thousands of years
        # long, would otherwise slow the calendar feed to seconds a request
        runtime.redis.flushdb()

        def run(case: Any) -> None:
            response = case.call(headers=AUTH)
            try:
                case.validate_response(
                    response, checks=every_check, headers=AUTH, transport_kwargs={"headers": AUTH}
                )
            except FailureGroup as group:
                method, path = case.method.upper(), case.operation.path
                for failure in group.exceptions:
                    if not _known(method, path, failure, response):
                        key = (method, path, failure.code)
                        unknown.setdefault(
                            key,
                            f"{failure.title}: {failure.message[:300]} "
                            f"{response.status_code} {response.text[:300]}",
                        )

        config = HypothesisTestConfig(project=schema.config, modes=MODES, settings=BOUNDED)
        create_test(operation=operation, test_func=run, config=config)()
    said = "\n".join(f"{m} {p} {c}: {why}" for (m, p, c), why in sorted(unknown.items()))
    assert not unknown, f"conformance failures not in docs/limits.md:\n{said}"
