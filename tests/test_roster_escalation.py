"""An open incident's next escalation step sees the run-time roster (issue 9). Its own
file: it needs the 2-second-step rules of the `tuesday` fixture, and a module-scoped
stack (tests/test_roster.py) must never run beside another in one process."""

from __future__ import annotations

from datetime import timedelta

from tests.stack import Stack

K = "Kshama Kumar"


def test_the_next_escalation_step_sees_an_absence_added_after_the_page(tuesday: Stack) -> None:
    """Unowned daily data pages on call first, then the team 2 s later (the test's rules).
    Kshama Kumar marked away after the first page is left out of the team step."""
    stack = tuesday
    stack.send_event(
        {
            "pipeline": "profit.unit",
            "type": "data_missing",
            "summary": "no rows",
            "dedup_key": "late-away",
        }
    )
    stack.settle()
    (incident,) = stack.runtime.engine.store.listing("triggered")
    assert incident.escalation[1].notify == [K, "Aruna Sharma", "Disha Kapoor"]
    with stack.client() as client:
        away = client.post(
            "/v1/absences", json={"engineer": K, "from": "2026-11-24", "to": "2026-11-24"}
        )
        assert away.status_code == 201
    stack.clock.advance(timedelta(seconds=2))
    stack.settle()
    escalations = sorted(
        str(m["To"]) for m in stack.emails() if m["X-Alert-Router-Kind"] == "escalation"
    )
    assert escalations == ["aruna.sharma@example.com", "disha.kapoor@example.com"]
