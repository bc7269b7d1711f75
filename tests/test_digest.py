"""No page floods for one person: past ROUTER_DIGEST_AFTER_PAGES pages in
ROUTER_DIGEST_WINDOW_S (shipped: 5 in 10 minutes), further pages to them go as one digest
per window. The budget's rule as a table (router.core.digest), then the running router
with a moved clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from router.core.digest import PageBudget
from tests.mailservers import webhook_receiver
from tests.stack import KSHAMA_TOKEN, Stack, running_stack, text_of
from tests.support import copy_rules, pacific

K, A = "kshama.kumar@example.com", "aruna.sharma@example.com"  # profit.aggregate's owners


@pytest.mark.parametrize(
    ("before", "severity", "index", "goes", "after"),
    [
        (0, "P2", 0, True, 1),
        (4, "P2", 0, True, 5),
        (5, "P2", 0, False, 5),  # the sixth in the window joins the digest
        (5, "P2", 1, False, 5),  # an escalation step too
        (5, "P1", 0, True, 6),  # a P1's first page never waits
        (5, "P1", 1, False, 5),  # its later steps do
        (9, "P3", 0, False, 9),
    ],
)
def test_the_budget(before: int, severity: str, index: int, goes: bool, after: int) -> None:
    budget = PageBudget(5, {"Kshama Kumar": before})
    assert budget.goes("Kshama Kumar", severity, index) is goes
    assert budget.counts["Kshama Kumar"] == after
    assert budget.goes("Aruna Sharma", severity, index)  # each person has their own


@pytest.fixture(params=["no chat", "chat"])
def tuesday(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """With a team chat too: a page then fires with its incident's chat line, in one task."""
    with webhook_receiver() as (_, url):

        def chat(team: dict[str, Any]) -> None:
            team["chat"] = f"json://{url.removeprefix('http://')}/team-chat"

        edits = {"team": chat} if request.param == "chat" else {}
        rules = copy_rules(tmp_path / "rules", **edits)
        with running_stack(rules, tmp_path / "outbox", pacific("2026-12-08 10:00")) as stack:
            yield stack


def _sent(stack: Stack, kind: str, to: str) -> list[str]:
    return [text_of(m) for m in stack.emails() if (m["X-Alert-Router-Kind"], m["To"]) == (kind, to)]


def test_twelve_p2s_in_three_minutes_page_five_times_then_one_digest(tuesday: Stack) -> None:
    start = pacific("2026-12-08 10:00")
    ids = []
    for n in range(12):  # one every 15 s: 2 min 45 s in all
        tuesday.clock.set(start + timedelta(seconds=15 * n))
        tuesday.send_event(
            {
                "pipeline": "profit.aggregate",
                "type": "aggregation_error",
                "dedup_key": f"agg-{n}",
                "summary": f"aggregation {n} failed",
            }
        )
        ids.append(tuesday.incident_id(f"agg-{n}"))
        tuesday.settle()
    assert len(_sent(tuesday, "page", K)) == 5
    assert _sent(tuesday, "digest", K) == []
    # a P1's first page is never held, however many came before
    tuesday.send_event({"pipeline": "profit.aggregate", "type": "data_missing", "severity": "P1"})
    tuesday.settle()
    assert len(_sent(tuesday, "page", K)) == 6
    with tuesday.client() as client:
        p1 = tuesday.incident_id("profit.aggregate/data_missing")
        assert client.post(f"/v1/incidents/{p1}/resolve").status_code == 200
    held = [e for e in tuesday.runtime.engine.store.timeline(ids[5]) if e["kind"] == "digested"]
    assert [(e["to"], e["step"]) for e in held] == [("Kshama Kumar", 0)]

    # the digest goes one window after the first page it holds (10:01:15): all seven
    tuesday.clock.set(start + timedelta(minutes=11, seconds=14))
    tuesday.settle()
    assert _sent(tuesday, "digest", K) == []
    tuesday.clock.set(start + timedelta(minutes=11, seconds=15))
    tuesday.settle()
    (digest,) = _sent(tuesday, "digest", K)
    subjects = [m["Subject"] for m in tuesday.emails() if m["X-Alert-Router-Kind"] == "digest"]
    assert subjects == ["7 more page(s) for you, 7 still open"]
    for n in range(12):
        assert (f"aggregation {n} failed" in digest) is (n >= 5), n
    assert len(_sent(tuesday, "page", K)) == 6

    # Kshama acknowledges one; the escalation reaches the secondary for each of the others
    with tuesday.client() as client:
        acked = client.post(
            f"/v1/incidents/{ids[7]}/acknowledge",
            headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"},
        )
    assert acked.status_code == 200, acked.text
    tuesday.clock.set(start + timedelta(minutes=18))  # the second steps, due by 10:17:45
    tuesday.settle()
    escalations = _sent(tuesday, "escalation", A)
    assert len(escalations) == 5 and _sent(tuesday, "digest", A) == []
    tuesday.clock.set(start + timedelta(minutes=28))  # Aruna's digest, a window on
    tuesday.settle()
    digests = _sent(tuesday, "digest", A)
    reached = [n for n in range(12) if any(f"aggregation {n} failed" in t for t in escalations)]
    in_digest = [n for n in range(12) if any(f"aggregation {n} failed" in t for t in digests)]
    assert len(escalations) == 5 and len(digests) == 1
    assert sorted(reached + in_digest) == [n for n in range(12) if n != 7]
    assert len(_sent(tuesday, "digest", K)) == 1
