"""A resolved incident's notices, decided (router.delivery.firing.resolved): pure, from what the
timeline says."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.core.rules import Rules
from router.core.timeline import Line, read_lines
from router.delivery.firing import resolved
from router.delivery.firing.plan import IncidentEmail
from router.state.sendonce import Entry
from tests.test_firing_step import A, B, D, incident, sent

NOTE = {"at": "2026-12-01T19:10:00Z", "kind": "note", "by": "kshama", "text": "fixed the cast"}


AT = "2026-12-01T19:00:00Z"


def _message(to: str, kind: str = "message") -> dict[str, Any]:
    return {"at": AT, "kind": kind, "to": to, "message": "page"}


def _lines(*stored: dict[str, Any]) -> list[Line]:
    """The timeline as the store reads it back."""
    return read_lines(orjson.dumps(entry) for entry in stored)


# (the timeline) -> who is told, in order
# fmt: off
CASES: list[tuple[list[dict[str, Any]], list[str]]] = [
    ([], []),
    ([{"at": AT, "kind": "event"}, _message(B), {"at": AT, "kind": "push", "to": A}], [B]),  # a push alone is no page
    ([_message(B), _message(D), _message(B)], [B, D]),  # each once, in the order paged
    ([_message(D, "message failed"), _message(B)], [B]),  # a failed email reached nobody
]
# fmt: on


@pytest.mark.parametrize(("timeline", "told"), CASES)
def test_everyone_paged_is_told_once(
    rules: Rules, timeline: list[dict[str, Any]], told: list[str]
) -> None:
    plan = resolved.decide(incident(status="resolved"), _lines(*timeline), rules)
    assert [sent(s) for s in plan.sends] == [
        ("email", "resolved", name, f"inc:resolved:{name}") for name in told
    ]
    assert plan.said == f"resolved to {', '.join(told) or 'nobody'}"
    assert not any(s.counts for s in plan.sends) and plan.counted == ()


def test_the_notice_carries_the_notes_and_records_no_step(rules: Rules) -> None:
    plan = resolved.decide(incident(status="resolved"), _lines(_message(B), NOTE), rules)
    (send,) = plan.sends
    assert isinstance(send.what, IncidentEmail)
    assert send.what.notes == tuple(_lines(NOTE)) and send.what.index is None
    fields = (
        ("to", B),
        ("email", "biswa.rath@example.com"),
        ("message", "resolved"),
        ("round", None),
        ("step", None),
    )
    assert send.record.sent.entries == (Entry("inc", "message", fields),)
    assert send.record.failed.entries == (Entry("inc", "message failed", fields),)
