"""`router simulate`: JSON Lines events through the core, in order, at one instant."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from router.core.events import EventInvalid, parse_event
from router.core.incidents import Incident, apply_event, keep_open
from router.core.rules import Rules


def simulate(lines: Iterable[str], rules: Rules, now: datetime) -> Iterator[dict[str, Any]]:
    """One output object per non-blank line; a bad line yields {"line", "error"}."""
    book: dict[str, Incident] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield {"line": number, "error": f"not valid JSON: {error.msg} at column {error.colno}"}
            continue
        try:
            event = parse_event(data, rules, now)
        except EventInvalid as error:
            yield {"line": number, "error": str(error)}
            continue
        outcome = apply_event(book, event, rules, now, new_id=f"sim-{number}")
        keep_open(book, outcome)
        yield outcome.decision.to_json()
