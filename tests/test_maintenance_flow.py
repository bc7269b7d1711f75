"""Maintenance windows on the running router with a moved clock: set through the API, a
window keeps what matches from paging, decides it again when it ends, holds an
escalation under way and resumes it, and puts a missed deadline off to its end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.state.rosterstore import RosterStore
from router.state.sessions import COOKIE
from tests.stack import KSHAMA_TOKEN, Stack, console_session, running_stack, text_of
from tests.support import RULES_DIR, copy_rules, pacific
from tests.test_roster import cli

SATURDAY_1AM = pacific("2026-12-12 01:00")
BISWA, DISHA = "biswa.rath@example.com", "disha.kapoor@example.com"  # growth.aggregate's owners
WINDOW = {"start": "2026-12-12T02:00", "end": "2026-12-12T06:00", "reason": "warehouse upgrade"}


@pytest.fixture
def saturday(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(RULES_DIR, tmp_path / "outbox", SATURDAY_1AM) as stack:
        yield stack


def _post(stack: Stack, path: str, body: dict[str, Any], token: str = KSHAMA_TOKEN) -> Any:
    with stack.client() as client:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})


def _window(stack: Stack, **body: Any) -> str:
    answer = _post(stack, "/v1/maintenance", {**WINDOW, **body})
    assert answer.status_code == 201, answer.text
    window_id: str = answer.json()["maintenance"]["id"]
    return window_id


def _at(stack: Stack, when: str) -> None:
    """The clock moved to `when` (team time), every timer due by then fired."""
    stack.clock.set(pacific(when))
    stack.settle()


PAGES = ("page", "deferred", "escalation", "data_late")


def _kinds(stack: Stack) -> list[tuple[str, str]]:
    """(kind, To) of every page sent (no notices, summaries or handoffs), sorted."""
    found = [(str(m["X-Alert-Router-Kind"]), str(m["To"])) for m in stack.emails()]
    return sorted(item for item in found if item[0] in PAGES)


def _summaries(stack: Stack) -> list[EmailMessage]:
    return [m for m in stack.emails() if m["X-Alert-Router-Kind"] == "maintenance_summary"]


def _incident(stack: Stack, incident_id: str) -> dict[str, Any]:
    with stack.client() as client:
        found: dict[str, Any] = client.get(f"/v1/incidents/{incident_id}").json()
    return found


def test_a_p2_in_a_window_pages_nobody_and_is_decided_again_at_its_end(saturday: Stack) -> None:
    _window(saturday, pipelines=["growth.aggregate"])
    _at(saturday, "2026-12-12 03:00")
    event = {"pipeline": "growth.aggregate", "type": "job_failed", "summary": "backfill broke"}
    saturday.send_event({**event, "dedup_key": "p2"})
    saturday.send_event({**event, "dedup_key": "p1", "severity": "P1"})
    p2, p1 = saturday.incident_id("p2"), saturday.incident_id("p1")
    saturday.settle()

    # the P1 pages at once; the P2 pages nobody, and its timeline says why
    assert [kind for kind, _ in _kinds(saturday)] == ["page"]
    held = _incident(saturday, p2)
    assert held["incident"]["decision"] == "suppressed"
    (decided,) = [e for e in held["timeline"] if e["kind"] == "decision"]
    assert decided["decision"] == "suppressed"
    assert "warehouse upgrade" in decided["reason"] and "06:00 PST" in decided["reason"]
    assert _incident(saturday, p1)["incident"]["decision"] == "page"
    resolved = _post(saturday, f"/v1/incidents/{p1}/resolve", {})  # its escalation stops
    assert resolved.status_code == 200, resolved.text

    _at(saturday, "2026-12-12 05:59")
    assert len(_kinds(saturday)) == 1

    # 06:00: decided again, off-hours: deferred to Monday 09:00 as the policy says
    _at(saturday, "2026-12-12 06:00")
    again = _incident(saturday, p2)
    assert again["incident"]["decision"] == "defer"
    assert again["incident"]["deliver_at"] == "2026-12-14T17:00:00Z"
    decisions = [e["decision"] for e in again["timeline"] if e["kind"] == "decision"]
    assert decisions == ["suppressed", "defer"]
    assert len(_kinds(saturday)) == 1

    # the owners of growth.aggregate hear what the window kept quiet, once each
    summaries = _summaries(saturday)
    assert sorted(str(m["To"]) for m in summaries) == [BISWA, DISHA]
    for summary in summaries:
        text = text_of(summary)
        assert "kept 1 incident(s) from paging" in text
        assert f"/incidents/{p2}" in text and f"/incidents/{p1}" not in text
        assert "Resolved meanwhile:\n- nothing" in text
    _at(saturday, "2026-12-12 07:00")
    assert len(_summaries(saturday)) == 2

    _at(saturday, "2026-12-14 09:00")
    sent = _kinds(saturday)
    assert [kind for kind, _ in sent] == ["deferred", "page"]


def test_a_step_due_in_a_window_waits_and_the_escalation_resumes_at_its_end(
    saturday: Stack,
) -> None:
    _window(saturday, pipelines="all")
    _at(saturday, "2026-12-12 01:50")
    saturday.send_event({"pipeline": "growth.daily", "type": "data_missing", "dedup_key": "d"})
    incident_id = saturday.incident_id("d")
    saturday.settle()
    first = _kinds(saturday)
    assert [kind for kind, _ in first] == ["page"]  # daily data pages at night
    step_0 = first[0][1]

    # 02:05, when the next step was due: nothing fires during the window
    _at(saturday, "2026-12-12 02:05")
    _at(saturday, "2026-12-12 05:59")
    assert _kinds(saturday) == first
    timeline = _incident(saturday, incident_id)["timeline"]
    (held,) = [e for e in timeline if e["kind"] == "maintenance"]
    assert "escalation held until 2026-12-12T14:00:00Z" in held["text"]

    # 06:00: it resumes from the step it had reached, the next one 15 minutes on
    _at(saturday, "2026-12-12 06:00")
    after = _kinds(saturday)
    step_1 = [to for kind, to in after if kind == "escalation"]
    assert len(after) == 1 + len(step_1) and step_1 and step_0 not in step_1  # the next ones
    assert len(_summaries(saturday)) >= 1  # who owns growth.daily (the on-call if nobody)
    _at(saturday, "2026-12-12 06:14")
    assert _kinds(saturday) == after
    _at(saturday, "2026-12-12 06:15")
    assert len(_kinds(saturday)) > len(after)


def test_a_deadline_under_a_window_raises_its_data_late_when_the_window_ends(
    tmp_path: Path,
) -> None:
    thursday = pacific("2026-12-10 17:00")
    with running_stack(RULES_DIR, tmp_path / "outbox", thursday) as stack:
        _window(
            stack, pipelines=["profit.unit"], start="2026-12-10T18:00",
            end="2026-12-10T21:00", reason="unit backfill",
        )  # fmt: skip
        _at(stack, "2026-12-10 19:00")
        _at(stack, "2026-12-10 20:59")
        assert stack.runtime.engine.store.listing(None) == []
        assert _kinds(stack) == []

        _at(stack, "2026-12-10 21:00")
        (late,) = stack.runtime.engine.store.listing(None)
        assert (late.type, late.dedup_key) == ("data_late", "profit.unit/data_late/2026-12-10")
        assert [kind for kind, _ in _kinds(stack)] == ["data_late"]
        _at(stack, "2026-12-10 21:30")
        assert len(stack.runtime.engine.store.listing(None)) == 1


def test_ending_a_window_early_decides_its_incidents_again_at_once(tmp_path: Path) -> None:
    monday = pacific("2026-12-14 08:00")
    with running_stack(RULES_DIR, tmp_path / "outbox", monday) as stack:
        window_id = _window(
            stack, pipelines=["growth.aggregate"], types=["job_failed"], start=None,
            end="2026-12-14T12:00", reason="migration",
        )  # fmt: skip
        _at(stack, "2026-12-14 10:00")
        stack.send_event({"pipeline": "growth.aggregate", "type": "job_failed", "dedup_key": "m"})
        stack.send_event({"pipeline": "growth.aggregate", "type": "slow_query", "dedup_key": "s"})
        incident_id = stack.incident_id("m")
        stack.settle()
        assert [kind for kind, _ in _kinds(stack)] == ["page"]  # the slow query, not muted
        slow = stack.incident_id("s")
        assert _post(stack, f"/v1/incidents/{slow}/resolve", {}).status_code == 200

        stack.clock.set(pacific("2026-12-14 10:30"))
        with stack.client() as client:
            listed = client.get("/v1/maintenance").json()["maintenance"]
            assert [(w["id"], w["active"]) for w in listed] == [(window_id, True)]
            ended = client.delete(
                f"/v1/maintenance/{window_id}",
                headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"},
            )
            assert ended.status_code == 200, ended.text
            assert ended.json()["maintenance"]["end"] == "2026-12-14T18:30:00Z"
            assert client.get("/v1/maintenance").json()["maintenance"] == []
            audit = [line["action"] for line in client.get("/v1/audit").json()["audit"]]
            assert audit == ["maintenance ended", "incident resolved", "maintenance added"]
            again = client.delete(
                f"/v1/maintenance/{window_id}",
                headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"},
            )
            assert again.status_code == 404
        stack.settle()
        assert [kind for kind, _ in _kinds(stack)] == ["page", "page"]
        assert _incident(stack, incident_id)["incident"]["decision"] == "page"
        (summary, *_) = _summaries(stack)
        assert f"/incidents/{incident_id}" in text_of(summary)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pipelines": ["growth.total"]}, "pipelines: unknown pipeline 'growth.total'"),
        ({"pipelines": "all", "types": ["disk_ful"]}, "types: unknown event type 'disk_ful'"),
        ({"pipelines": "all", "end": "2026-12-12T01:30"}, "end: 2026-12-12T09:30:00+00:00 is"),
        ({"pipelines": "all", "end": "2026-12-27T02:00"}, "end: a window lasts at most 14 days"),
        ({"pipelines": "all", "start": "soon"}, "start: 'soon' is not an ISO 8601"),
        ({"pipelines": "all", "reason": "  "}, "reason: say why"),
    ],
)
def test_a_bad_window_gets_a_400_naming_the_field_and_nothing_is_written(
    saturday: Stack, body: dict[str, Any], field: str
) -> None:
    before = saturday.contents()
    answer = _post(saturday, "/v1/maintenance", {**WINDOW, **body})
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["message"]
    assert saturday.contents() == before


def test_the_cli_adds_lists_and_ends_a_window(saturday: Stack) -> None:
    # the CLI reads the real clock: a window from an hour from now
    start = datetime.now(UTC) + timedelta(hours=1)
    added = cli(
        "maintenance", "add", (start + timedelta(hours=2)).isoformat(),
        "--start", start.isoformat(), "--pipeline", "growth.aggregate", "--type", "job_failed",
        "--reason", "warehouse upgrade",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    window_id = added.stdout.split()[1].rstrip(":")
    assert "growth.aggregate from" in added.stdout
    listed = [json.loads(line) for line in cli("maintenance", "list").stdout.splitlines()]
    assert [(w["id"], w["types"], w["active"], w["page_p1"]) for w in listed] == [
        (window_id, ["job_failed"], False, True)
    ]
    bad = cli("maintenance", "add", start.isoformat(), "--type", "disk_ful", "--reason", "x")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: types: unknown event type 'disk_ful'")
    assert cli("maintenance", "end", window_id).returncode == 0
    assert cli("maintenance", "list").stdout == ""
    assert cli("maintenance", "end", window_id).returncode == 1
    with saturday.client() as client:
        audit = client.get("/v1/audit").json()["audit"]
    assert [(a["action"], a["by"][:4]) for a in audit] == [
        ("maintenance ended", "cli:"),
        ("maintenance added", "cli:"),
    ]


def test_the_console_sets_shows_and_ends_a_window(saturday: Stack) -> None:
    session_id, csrf = console_session(saturday, "Kshama Kumar")
    with httpx.Client(base_url=saturday.url, verify=saturday.tls, timeout=10) as client:
        client.cookies.set(COOKIE, session_id)
        assert "No window is on or set." in client.get("/maintenance").text
        assert "maintenance-banner" not in client.get("/").text
        bad = client.post(
            "/maintenance", data={"csrf": csrf, "end": "2026-12-11T03:00", "reason": "x"}
        )
        assert bad.status_code == 400 and "end: " in bad.text and "is not after" in bad.text
        assert saturday.runtime.roster.windows(saturday.clock.now()) == []
        form = {
            "csrf": csrf,
            "pipelines": ["growth.aggregate", "growth.daily"],
            "end": "2026-12-12T03:00",
            "reason": "warehouse upgrade",
            "page_p1": "yes",
        }
        added = client.post("/maintenance", data=form)  # from now (01:00) to 03:00
        assert added.status_code == 303, added.text
        (window,) = saturday.runtime.roster.windows(saturday.clock.now())
        assert window.pipelines == ["growth.aggregate", "growth.daily"] and window.page_p1
        index = client.get("/").text
        assert "maintenance-banner" in index and "warehouse upgrade" in index
        listed = client.get("/maintenance").text
        assert window.id in listed and "on now" in listed and "End now" in listed
        ended = client.post(f"/maintenance/{window.id}/end", data={"csrf": csrf})
        assert ended.status_code == 303
        assert "maintenance-banner" not in client.get("/").text
        assert saturday.runtime.roster.windows(saturday.clock.now()) == []


def test_a_weekly_window_of_the_rules_mutes_decides_again_and_sums_up(tmp_path: Path) -> None:
    def windows(data: dict[str, Any]) -> None:
        data["maintenance"] = [
            {"pipelines": ["growth.aggregate"], "weekly": "Sat 02:00-06:00", "reason": "warehouse"}
        ]

    rules = copy_rules(tmp_path / "rules", routing=windows)
    with running_stack(rules, tmp_path / "outbox", pacific("2026-12-19 03:00")) as stack:
        stack.send_event({"pipeline": "growth.aggregate", "type": "job_failed", "dedup_key": "w"})
        incident_id = stack.incident_id("w")
        stack.settle()
        assert _incident(stack, incident_id)["incident"]["decision"] == "suppressed"
        # another process's view of the roster sees the rules' window, and a run-time one
        other = RosterStore(stack.redis, stack.runtime.rules)
        _window(stack, pipelines="all", start="2026-12-19T04:00", end="2026-12-19T05:00")
        seen = [w.id for w in other.rules().maintenance_windows()]
        assert len(seen) == 2 and seen[0] == "rules-1"
        _at(stack, "2026-12-19 06:00")
        again = _incident(stack, incident_id)["incident"]
        assert (again["decision"], again["deliver_at"]) == ("defer", "2026-12-21T17:00:00Z")
        assert sorted(str(m["To"]) for m in _summaries(stack)) == [BISWA, DISHA]
        assert _kinds(stack) == []


def test_a_step_held_after_its_window_ended_goes_at_once(saturday: Stack) -> None:
    window_id = _window(saturday, pipelines="all")
    _at(saturday, "2026-12-12 01:50")
    saturday.send_event({"pipeline": "growth.daily", "type": "data_missing", "dedup_key": "r"})
    incident_id = saturday.incident_id("r")
    saturday.settle()
    # the window ends early between a step's decision and its hold: the hold finds no
    # window, holds nothing, and the step goes
    saturday.clock.set(pacific("2026-12-12 02:05"))
    with saturday.client() as client:
        ended = client.delete(
            f"/v1/maintenance/{window_id}", headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"}
        )
    assert ended.status_code == 200
    store = saturday.runtime.engine.store
    assert store.hold(incident_id, pacific("2026-12-12 02:05"), saturday.clock.now()) is None
    held = store.get(incident_id)
    assert held is not None and held.held_at is None
    saturday.settle()
    assert sorted(kind for kind, _ in _kinds(saturday)).count("escalation") >= 1
