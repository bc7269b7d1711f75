"""Each instant where a crash once lost a notice or a page: the process dies right
there (a fault hook raises), and what was caused is still sent, once.

Before, a fold committed its `seen` marker and queued the report-ready and resolved
notices afterwards; a deadline set its marker and then queued the data_late event; a
handoff set its marker and then queued the emails. Now each is one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from router.core.events import parse_event
from tests.stack import Stack, running_stack, text_of, wait_until
from tests.support import RULES_DIR, pacific

ANALYST = "analyst@example.com"


class Crash(Exception):
    """The process dies here: nothing after this point runs."""


class FaultSwitch:
    """The runtime's fault hook: raises once at the armed point."""

    def __init__(self) -> None:
        self.armed: set[str] = set()
        self.hit: list[str] = []

    def arm(self, point: str) -> None:
        self.armed.add(point)

    def __call__(self, point: str) -> None:
        if point in self.armed:
            self.armed.discard(point)
            self.hit.append(point)
            raise Crash(point)


@pytest.fixture
def faults() -> FaultSwitch:
    return FaultSwitch()


@pytest.fixture
def night(rules_dir: Path, tmp_path: Path, faults: FaultSwitch) -> Iterator[Stack]:
    at = pacific("2026-11-25 03:00")
    with running_stack(rules_dir, tmp_path / "outbox", at, fault=faults) as stack:
        yield stack


def test_report_ready_is_sent_once_when_the_worker_dies_after_the_fold(
    night: Stack, faults: FaultSwitch
) -> None:
    rules, now = night.runtime.rules, night.clock.now()
    event = parse_event(
        {"pipeline": "engagement.aggregate", "type": "report_ready", "summary": "November"},
        rules,
        now,
    )
    faults.arm("folded")
    with pytest.raises(Crash):
        night.runtime.engine.intake.apply(event, "evt-report", now)
    # The task is redelivered and runs again: the event was folded, so it is skipped ...
    assert night.runtime.engine.intake.apply(event, "evt-report", now) is None
    night.settle()
    # ... and the notice, written with the fold, is sent all the same, once.
    assert night.recipients() == [ANALYST]
    assert faults.hit == ["folded"]


def test_resolved_notice_is_sent_once_when_the_api_dies_after_the_resolve(
    tuesday_faults: tuple[Stack, FaultSwitch],
) -> None:
    stack, faults = tuesday_faults
    stack.send_event(
        {"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "chart blank"}
    )
    (page,) = wait_until(stack.emails, what="the page")
    with stack.client() as client:
        (incident,) = client.get("/v1/incidents").json()["incidents"]
        faults.arm("acted")
        died = client.post(f"/v1/incidents/{incident['id']}/resolve")
        assert died.status_code == 500 and died.json()["status"] == "internal server error"
        assert client.get(f"/v1/incidents/{incident['id']}").json()["incident"]["status"] == (
            "resolved"
        )
    stack.settle()
    resolved = [m for m in stack.emails() if "Resolved at" in text_of(m)]
    assert [m["To"] for m in resolved] == [page["To"]]
    assert faults.hit == ["acted"]


def test_data_late_pages_once_when_the_scheduler_dies_after_raising_it(
    tmp_path: Path, faults: FaultSwitch
) -> None:
    at = pacific("2026-11-24 18:59")  # shipped rules: the next step is 15 minutes away
    with running_stack(RULES_DIR, tmp_path / "outbox", at, fault=faults) as stack:
        faults.arm("deadline raised")
        stack.clock.set(pacific("2026-11-24 19:00:01"))
        wait_until(lambda: faults.hit, what="the scheduler to die after the deadline fold")
        stack.settle()
        stack.clock.advance(timedelta(seconds=30))  # later ticks raise nothing more
        stack.settle()
        (page,) = [m for m in stack.emails() if m["X-Alert-Router-Kind"] == "data_late"]
        assert page["Subject"].startswith("[P2] Unit-level profit")
        assert stack.redis.zcard("ar:status:triggered") == 1


def test_handoff_emails_once_when_the_scheduler_dies_after_the_marker(
    rules_dir: Path, tmp_path: Path, faults: FaultSwitch
) -> None:
    at = pacific("2026-11-27 08:59")
    with running_stack(rules_dir, tmp_path / "outbox", at, fault=faults) as stack:
        faults.arm("handoff written")
        stack.clock.set(pacific("2026-11-27 09:00:01"))
        wait_until(lambda: faults.hit, what="the scheduler to die after the handoff")
        stack.clock.advance(timedelta(minutes=5))
        stack.settle()
        assert sorted(stack.recipients()) == [
            "disha.kapoor@example.com",
            "kshama.kumar@example.com",
        ]


@pytest.fixture
def tuesday_faults(
    rules_dir: Path, tmp_path: Path, faults: FaultSwitch
) -> Iterator[tuple[Stack, FaultSwitch]]:
    at = pacific("2026-11-24 10:00")
    with running_stack(rules_dir, tmp_path / "outbox", at, fault=faults) as stack:
        yield stack, faults
