"""Absences and overrides at run time: validated like the YAML, audited, and seen by
every reader at once (the API, `router oncall`, the calendar feed, the next page)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from icalendar import Calendar

from router.core.times import iso_z
from router.state import keys
from tests.redis_server import session_redis
from tests.stack import REDIS_DB, Stack, running_stack
from tests.support import RULES_DIR, pacific

B, K = "Biswa Kalyan Rath", "Kshama Kumar"
NOW = pacific("2026-11-24 10:00")  # Tuesday: Biswa Kalyan Rath on call (Nov 23 09:00 - 25 09:00)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(RULES_DIR, tmp_path_factory.mktemp("roster") / "outbox", NOW) as stack:
        yield stack


@pytest.fixture
def stack(running: Stack) -> Stack:
    """The module's running router, drained, with no router state left by the test before."""
    running.settle()
    for key in running.redis.scan_iter("ar:*"):
        if key != keys.HEARTBEATS.encode():
            running.redis.delete(key)
    running.clock.set(NOW)
    return running


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": session_redis().url(REDIS_DB), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def oncall_now(stack: Stack) -> dict[str, Any]:
    with stack.client() as client:
        answer = client.get("/v1/oncall")
    assert answer.status_code == 200, answer.text
    now: dict[str, Any] = answer.json()["now"]
    return now


def cli_now() -> str:
    done = cli("oncall", "--at", iso_z(NOW), "--json")
    assert done.returncode == 0, done.stderr
    name: str = json.loads(done.stdout)["name"]
    return name


def feed_today(stack: Stack) -> list[tuple[str, str, str]]:
    """(engineer, start, end) of the feed's events, in order."""
    with stack.client() as client:
        answer = client.get("/v1/oncall.ics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(answer.content)
    assert calendar.walk("VTIMEZONE")[0]["TZID"] == "America/Los_Angeles"
    events = []
    for event in calendar.walk("VEVENT"):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert str(start.tzinfo) == "America/Los_Angeles"
        name = str(event["SUMMARY"]).removeprefix("On call: ").split(" (")[0]
        events.append((name, iso_z(start), iso_z(end)))
    return sorted(events, key=lambda e: e[1])


def page_recipient(stack: Stack, dedup_key: str) -> str:
    """Send a daily-data problem on an unowned pipeline (paged to whoever is on call)
    and return who the first page went to."""
    stack.send_event(
        {
            "pipeline": "profit.unit",
            "type": "data_missing",
            "summary": "no rows",
            "dedup_key": dedup_key,
        }
    )
    stack.settle()
    (incident,) = [i for i in stack.runtime.engine.store.listing(None) if i.dedup_key == dedup_key]
    pages = [
        m
        for m in stack.emails()
        if m["X-Alert-Router-Kind"] == "page"
        and incident.id in str(m["X-Alert-Router-Idempotency-Key"])
    ]
    assert len(pages) == 1, [m["Subject"] for m in pages]
    return str(pages[0]["To"])


def test_an_absence_moves_every_reader_at_once_and_back(stack: Stack) -> None:
    assert oncall_now(stack)["name"] == B
    assert cli_now() == B
    before_feed = feed_today(stack)
    assert page_recipient(stack, "before") == "biswa.rath@example.com"

    with stack.client() as client:
        added = client.post(
            "/v1/absences",
            json={"engineer": B, "from": "2026-11-24", "to": "2026-11-24", "reason": "dentist"},
        )
    assert added.status_code == 201, added.text
    absence = added.json()["absence"]
    assert absence["from"] == "2026-11-24" and absence["by"] == "token 1"

    now = oncall_now(stack)
    assert (now["name"], now["cover_for"]) == (K, B)
    assert now["shift_end"] == iso_z(pacific("2026-11-25 00:00"))
    assert cli_now() == K
    during_feed = feed_today(stack)
    assert (
        K,
        iso_z(pacific("2026-11-24 00:00")),
        iso_z(pacific("2026-11-25 00:00")),
    ) in during_feed
    assert during_feed != before_feed
    assert page_recipient(stack, "during") == "kshama.kumar@example.com"

    with stack.client() as client:
        removed = client.delete(f"/v1/absences/{absence['id']}")
        assert removed.status_code == 200
        assert client.delete(f"/v1/absences/{absence['id']}").status_code == 404
        audit = client.get("/v1/audit").json()["audit"]
    assert oncall_now(stack)["name"] == B
    assert cli_now() == B
    assert feed_today(stack) == before_feed
    assert page_recipient(stack, "after") == "biswa.rath@example.com"
    assert [(a["action"], a["by"], a["absence"]["id"]) for a in audit] == [
        ("absence removed", "token 1", absence["id"]),
        ("absence added", "token 1", absence["id"]),
    ]


def test_the_feed_equals_router_oncall_for_the_same_days(stack: Stack) -> None:
    with stack.client() as client:
        client.post(
            "/v1/absences",
            json={"engineer": "Disha Kapoor", "from": "2027-01-26", "to": "2027-01-27"},
        )
        client.post(
            "/v1/overrides",
            json={"engineer": K, "start": "2027-01-20T09:00", "end": "2027-01-21T09:00"},
        )
    first = NOW.date()
    last = first + timedelta(weeks=12) - timedelta(days=1)
    done = cli("oncall", "--from", str(first), "--to", str(last), "--json")
    assert done.returncode == 0, done.stderr
    shifts = json.loads(done.stdout)
    assert [(s["name"], s["shift_start"], s["shift_end"]) for s in shifts] == feed_today(stack)
    assert any(s["cover_for"] == "Disha Kapoor" for s in shifts)
    assert any(s["override"] for s in shifts)
    # fetched again, each shift keeps its UID: a calendar app updates, never duplicates
    with stack.client() as client:
        uids = [
            [
                str(e["UID"])
                for e in Calendar.from_ical(client.get("/v1/oncall.ics").content).walk("VEVENT")
            ]
            for _ in range(2)
        ]
    assert uids[0] == uids[1] and len(set(uids[0])) == len(shifts)


# fmt: off
BAD_CHANGES = [
    ("/v1/absences", {"engineer": "Nobody", "from": "2026-12-01", "to": "2026-12-02"}, "engineer: unknown engineer 'Nobody'"),
    ("/v1/absences", {"engineer": K, "from": "2026-12-02", "to": "2026-12-01"}, "to: 2026-12-01 is before from 2026-12-02"),
    ("/v1/absences", {"engineer": K, "from": "soon", "to": "2026-12-01"}, "body.from: Input should be a valid date"),
    ("/v1/absences", {"engineer": K, "from": "2026-12-01", "to": "3026-12-01"}, "to: an absence is at most 366 days"),
    ("/v1/overrides", {"engineer": K, "start": "2026-12-01T09:00", "end": "2027-12-02T09:00"}, "end: an override is at most 366 days"),
    ("/v1/overrides", {"engineer": K, "start": "2026-12-02T09:00", "end": "2026-12-01T09:00"}, "end: end must be after start"),
    ("/v1/overrides", {"engineer": K, "start": "tomorrow", "end": "2026-12-01T09:00"}, "start: 'tomorrow' is not an ISO 8601"),
    ("/v1/overrides", {"engineer": "Nobody", "start": "2026-12-01T09:00", "end": "2026-12-02T09:00"}, "engineer: unknown engineer"),
    ("/v1/overrides", {"engineer": K, "start": "2026-12-10T12:00", "end": "2026-12-12T09:00"}, "start: overlaps the override of Biswa Kalyan Rath"),
]
# fmt: on


@pytest.mark.parametrize(("path", "body", "error"), BAD_CHANGES)
def test_bad_changes_are_refused_naming_the_field(
    stack: Stack, path: str, body: dict[str, str], error: str
) -> None:
    with stack.client() as client:
        first = client.post(
            "/v1/overrides",
            json={"engineer": B, "start": "2026-12-10T09:00", "end": "2026-12-11T09:00"},
        )
        assert first.status_code == 201, first.text
        answer = client.post(path, json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["errors"][0].startswith(error), answer.json()
        assert len(client.get("/v1/audit").json()["audit"]) == 1  # nothing half-written


def test_the_cli_adds_lists_and_removes(stack: Stack) -> None:
    done = cli("override", "add", K, "2026-12-10T09:00", "2026-12-11T09:00", "--reason", "swap")
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in cli("override", "list").stdout.splitlines()]
    assert [(o["engineer"], o["reason"]) for o in listed] == [(K, "swap")]
    overlap = cli("override", "add", B, "2026-12-10T12:00", "2026-12-10T18:00")
    assert overlap.returncode == 2
    assert overlap.stderr.strip().startswith("error: start: overlaps the override of Kshama Kumar")
    away = cli("away", B, "2026-12-01", "2026-12-02", "--reason", "conference")
    assert away.returncode == 0, away.stderr
    absence_id = away.stdout.split()[1].rstrip(":")
    assert cli("back", absence_id).returncode == 0
    assert cli("override", "remove", listed[0]["id"]).returncode == 0
    assert cli("back", absence_id).returncode == 1
    with stack.client() as client:
        audit = client.get("/v1/audit").json()["audit"]
    assert [a["action"] for a in audit] == [
        "override removed",
        "absence removed",
        "absence added",
        "override added",
    ]
    assert all(a["by"].startswith("cli:") for a in audit)
