"""Runbooks that act (issue 10): notes and estimates on the running router with the
clock moved; the team's runbook written from the rules."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.config.load import load_rules
from router.core.maintenance import one_off
from router.core.rules import Rules
from router.core.rules.pipelines import WebhookAction
from router.core.runbook import render, runbook_blocks
from router.delivery.webhooks import render_body, signature, verify
from tests.mailservers import webhook_receiver
from tests.stack import Stack, html_of, running_stack, text_of
from tests.support import RULES_DIR, copy_rules, edited_rules, pacific


def _mail(stack: Stack, kind: str, incident_id: str) -> list[EmailMessage]:
    return [
        m
        for m in stack.emails()
        if m["X-Alert-Router-Kind"] == kind
        and incident_id in str(m["X-Alert-Router-Idempotency-Key"])
    ]


def test_a_note_with_an_estimate_is_on_the_timeline_and_in_the_resolved_email(
    tuesday: Stack,
) -> None:
    stack = tuesday
    stack.send_event(
        {
            "pipeline": "profit.aggregate",
            "type": "aggregation_error",
            "summary": "types differ",
            "dedup_key": "agg",
        }
    )
    stack.settle()
    incident_id = stack.incident_id("agg")
    (page,) = _mail(stack, "page", incident_id)
    # the runbook says "Document the bug and give an estimate": the page asks for a note
    assert f"/incidents/{incident_id}" in text_of(page)
    assert "document it or give an estimate" in text_of(page)
    with stack.client() as client:
        bad = client.post(
            f"/v1/incidents/{incident_id}/notes", json={"text": "x", "estimate": "soon"}
        )
        assert bad.status_code == 400 and bad.json()["errors"][0].startswith(
            "estimate: 'soon' is neither"
        )
        empty = client.post(f"/v1/incidents/{incident_id}/notes", json={"text": "   "})
        assert empty.status_code == 400 and empty.json()["errors"][0] == "text: write something"
        added = client.post(
            f"/v1/incidents/{incident_id}/notes",
            json={
                "text": "Upstream changed profit to a string; fixing the cast.",
                "estimate": "2d",
            },
        )
        assert added.status_code == 201, added.text
        assert added.json()["note"]["estimate"] == "2026-11-26T18:00:00Z"
        timeline = client.get(f"/v1/incidents/{incident_id}").json()["timeline"]
        notes = [e for e in timeline if e["kind"] == "note"]
        assert [(n["by"], n["estimate"]) for n in notes] == [("token 1", "2026-11-26T18:00:00Z")]
        assert client.post(f"/v1/incidents/{incident_id}/resolve").status_code == 200
    stack.settle()
    resolved = _mail(stack, "resolved", incident_id)
    assert resolved, "no resolved email"
    for message in resolved:
        text = text_of(message)
        assert "Upstream changed profit to a string; fixing the cast." in text
        assert "estimate: Thu 2026-11-26 10:00 PST" in text


def test_a_page_whose_runbook_asks_for_nothing_does_not_ask_for_a_note(tuesday: Stack) -> None:
    stack = tuesday
    stack.send_event(
        {
            "pipeline": "growth.daily",
            "type": "data_missing",
            "summary": "no rows",
            "dedup_key": "gd",
        }
    )
    stack.settle()
    (page,) = _mail(stack, "page", stack.incident_id("gd"))
    assert "give an estimate" not in text_of(page)


def _runbook(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "router", "runbook", "--yaml-only", "--at", "2026-11-30T12:00", *args],
        cwd=RULES_DIR.parent, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("form", ["md", "html"])
def test_router_runbook_has_every_owner_common_issue_and_sla(rules: Rules, form: str) -> None:
    written = html.unescape(_runbook("--format", form))
    flat = " ".join(written.split())
    for pipeline in rules.pipelines.values():
        assert pipeline.name in flat
        for owner in pipeline.owners.names():
            assert owner in flat, owner
        for issue in pipeline.runbook.values():
            assert " ".join(issue.split()) in flat, issue
        for sla in pipeline.sla:
            assert sla in flat, sla
    for person in rules.team.engineers:
        assert person.name in flat
    assert "only P1 and daily-data problems page" in flat  # the seed's paging policy


def test_the_team_document_in_docs_is_the_generated_one() -> None:
    """docs/runbook.md is written by `router runbook --yaml-only --at 2026-11-30T12:00
    --out docs/runbook.md`, never by hand."""
    assert (RULES_DIR.parent / "docs" / "runbook.md").read_text(encoding="utf-8") == _runbook()


def _pages_to(stack: Stack, incident_id: str) -> list[str]:
    return [str(m["To"]) for m in _mail(stack, "page", incident_id)]


def test_an_acknowledged_p2_left_for_its_timeout_pages_again(tuesday: Stack) -> None:
    stack = tuesday
    stack.send_event(
        {
            "pipeline": "growth.aggregate",
            "type": "permission_denied",
            "summary": "denied",
            "dedup_key": "ack-timeout",
        }
    )
    stack.settle()
    incident_id = stack.incident_id("ack-timeout")
    assert _pages_to(stack, incident_id) == ["biswa.rath@example.com"]
    with stack.client() as client:
        acked = client.post(f"/v1/incidents/{incident_id}/acknowledge").json()["incident"]
    assert acked["ack_expires_at"] == "2026-11-24T22:00:00Z"  # P2: 4 h (routing.yaml)
    stack.clock.advance(timedelta(hours=3, minutes=59))
    stack.settle()
    assert stack.runtime.engine.store.get(incident_id).status == "acknowledged"  # type: ignore[union-attr]
    stack.clock.advance(timedelta(minutes=1))
    stack.settle()
    incident = stack.runtime.engine.store.get(incident_id)
    assert incident is not None and (incident.status, incident.cycle) == ("triggered", 1)
    assert _pages_to(stack, incident_id) == ["biswa.rath@example.com"] * 2  # paged again
    with stack.client() as client:
        kinds = [e["kind"] for e in client.get(f"/v1/incidents/{incident_id}").json()["timeline"]]
    assert "ack timeout" in kinds


def test_a_snoozed_incident_waits_out_the_snooze(tuesday: Stack) -> None:
    stack = tuesday
    stack.send_event(
        {
            "pipeline": "growth.aggregate",
            "type": "permission_denied",
            "summary": "denied",
            "dedup_key": "snoozed",
        }
    )
    stack.settle()
    incident_id = stack.incident_id("snoozed")
    with stack.client() as client:
        early = client.post(f"/v1/incidents/{incident_id}/snooze", json={"for": "6h"})
        assert early.status_code == 409  # acknowledge first
        assert client.post(f"/v1/incidents/{incident_id}/acknowledge").status_code == 200
        bad = client.post(f"/v1/incidents/{incident_id}/snooze", json={"for": "a while"})
        assert bad.status_code == 400 and bad.json()["errors"][0].startswith("body.for:")
        snoozed = client.post(f"/v1/incidents/{incident_id}/snooze", json={"for": "6h"})
    assert (
        snoozed.status_code == 200
        and snoozed.json()["incident"]["ack_expires_at"] == "2026-11-25T00:00:00Z"
    )
    stack.clock.advance(timedelta(hours=4, minutes=30))  # past the 4 h timeout, inside the snooze
    stack.settle()
    assert stack.runtime.engine.store.get(incident_id).status == "acknowledged"  # type: ignore[union-attr]
    assert _pages_to(stack, incident_id) == ["biswa.rath@example.com"]
    stack.clock.advance(timedelta(hours=1, minutes=30))  # 16:00: the snooze is over
    stack.settle()
    assert stack.runtime.engine.store.get(incident_id).status == "triggered"  # type: ignore[union-attr]
    assert _pages_to(stack, incident_id) == ["biswa.rath@example.com"] * 2


IT = "it-helpdesk@example.com"
DENIED = {
    "pipeline": "growth.aggregate",
    "type": "permission_denied",
    "summary": "Access denied to growth_raw",
}


def _to_it(stack: Stack) -> list[EmailMessage]:
    return [m for m in stack.emails() if m["X-Alert-Router-Kind"] == "action_email"]


def test_permission_denied_on_a_tuesday_emails_it_at_once(tmp_path: Path) -> None:
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-11-24 11:00")) as stack:
        stack.send_event(DENIED)
        stack.settle()
        (email,) = _to_it(stack)
        incident_id = stack.incident_id("growth.aggregate/permission_denied")
        with stack.client() as client:
            timeline = client.get(f"/v1/incidents/{incident_id}").json()["timeline"]
    assert str(email["To"]) == IT
    text = text_of(email)
    assert "Access denied to growth_raw" in text and "Aggregate growth" in text
    assert "On it:     Biswa Kalyan Rath" in text  # the primary owner, paged first
    assert [e["action"] for e in timeline if e["kind"] == "action"] == ["email it-helpdesk"]


@pytest.mark.parametrize("resolved_on_sunday", [False, True])
def test_permission_denied_on_a_saturday_emails_it_on_monday_unless_resolved(
    tmp_path: Path, resolved_on_sunday: bool
) -> None:
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-12-05 10:00")) as stack:
        stack.send_event(DENIED)
        stack.settle()
        assert _to_it(stack) == []
        if resolved_on_sunday:
            stack.clock.set(pacific("2026-12-06 12:00"))
            stack.send_event({**DENIED, "action": "resolve"})
        stack.clock.set(pacific("2026-12-07 08:59"))
        stack.settle()
        assert _to_it(stack) == []
        stack.clock.set(pacific("2026-12-07 09:00"))
        stack.settle()
        sent = [str(m["To"]) for m in _to_it(stack)]
    assert sent == ([] if resolved_on_sunday else [IT])


def _kinds(stack: Stack, kind: str) -> list[EmailMessage]:
    return [m for m in stack.emails() if m["X-Alert-Router-Kind"] == kind]


@pytest.mark.parametrize(
    ("blocker", "report"),
    [
        (
            {"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "Chart 3 is blank"},
            "growth.aggregate",
        ),
        # unit-level profit feeds aggregate profit (built_from in pipelines.yaml)
        (
            {"pipeline": "profit.unit", "type": "data_late", "summary": "No rows for 2026-11-23"},
            "profit.aggregate",
        ),
    ],
)
def test_a_report_is_held_while_a_blocker_is_open_and_sent_once_after(
    tuesday: Stack, blocker: dict[str, str], report: str
) -> None:
    stack = tuesday
    stack.send_event(blocker)
    stack.settle()
    incident_id = stack.incident_id(f"{blocker['pipeline']}/{blocker['type']}")
    with stack.client() as client:
        client.post(f"/v1/incidents/{incident_id}/notes", json={"text": "on it", "estimate": "4h"})
    stack.send_event({"pipeline": report, "type": "report_ready", "summary": "Q4 numbers"})
    stack.settle()
    assert _kinds(stack, "report_ready") == []
    (delayed,) = _kinds(stack, "report_delayed")
    text = text_of(delayed)
    assert str(delayed["To"]) == "analyst@example.com"
    assert "held back" in text and blocker["summary"] in text
    assert "estimate for the fix: Tue 2026-11-24 14:00 PST" in text
    with stack.client() as client:
        assert client.post(f"/v1/incidents/{incident_id}/resolve").status_code == 200
    stack.settle()
    (ready,) = _kinds(stack, "report_ready")
    assert "Q4 numbers" in text_of(ready)
    stack.clock.advance(timedelta(minutes=5))
    stack.settle()
    assert len(_kinds(stack, "report_ready")) == 1


def test_one_delay_email_per_report_and_day_unless_the_estimate_changes(tuesday: Stack) -> None:
    stack = tuesday
    stack.send_event({"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "blank"})
    stack.settle()
    incident_id = stack.incident_id("growth.aggregate/chart_broken")
    for _ in range(2):
        stack.send_event({"pipeline": "growth.aggregate", "type": "report_ready"})
        stack.settle()
    assert len(_kinds(stack, "report_delayed")) == 1
    with stack.client() as client:
        client.post(
            f"/v1/incidents/{incident_id}/notes", json={"text": "found it", "estimate": "2h"}
        )
    stack.send_event({"pipeline": "growth.aggregate", "type": "report_ready"})
    stack.settle()
    assert len(_kinds(stack, "report_delayed")) == 2


def test_a_report_with_nothing_open_is_sent_at_once(tuesday: Stack) -> None:
    tuesday.send_event({"pipeline": "growth.aggregate", "type": "report_ready"})
    tuesday.settle()
    assert len(_kinds(tuesday, "report_ready")) == 1 and _kinds(tuesday, "report_delayed") == []


def test_the_sla_is_in_the_page_and_the_incident_json(tuesday: Stack) -> None:
    sla = "Make sure that the charts in the report are correctly showing up."
    tuesday.send_event({"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "blank"})
    tuesday.settle()
    incident_id = tuesday.incident_id("growth.aggregate/chart_broken")
    (page,) = _mail(tuesday, "page", incident_id)
    assert f"SLA:       {sla}" in text_of(page)
    with tuesday.client() as client:
        assert client.get(f"/v1/incidents/{incident_id}").json()["incident"]["sla"] == [sla]
        assert client.get("/v1/incidents").json()["incidents"][0]["sla"] == [sla]


def test_router_check_shows_each_sla() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router", "check"], cwd=RULES_DIR.parent, capture_output=True,
        text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Make sure that the charts in the report are correctly showing up." in done.stdout
    assert "Once the report is ready, send an email to the analyst." in done.stdout


def test_a_confirm_webhook_is_a_button_that_calls_once_signed_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret-0123456789")
    with webhook_receiver() as (receiver, url):
        receiver.script = [500]  # the first call fails: retried like an email

        def with_hook(data: dict[str, Any]) -> None:
            growth = next(p for p in data["pipelines"] if p["id"] == "growth.aggregate")
            growth["actions"]["chart_broken"] = [
                {
                    "label": "Rebuild the charts",
                    "confirm": True,
                    "webhook": {
                        "url": f"{url}/rebuild",
                        "secret_env": "TEST_HOOK_SECRET",
                        "body": '{"dag": "growth_charts", "incident": "{{ incident.id }}", "by": {{ by | tojson }}}',
                    },
                }
            ]

        rules_dir = copy_rules(tmp_path / "rules", pipelines=with_hook)
        with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-24 10:00")) as stack:
            stack.send_event(
                {"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "blank"}
            )
            stack.settle()
            assert receiver.calls == []  # a confirm action never runs by itself
            incident_id = stack.incident_id("growth.aggregate/chart_broken")
            (page,) = _mail(stack, "page", incident_id)
            found = re.search(r"Rebuild the charts: (\S+/actions/run\?token=\S+)", text_of(page))
            assert found and "Rebuild the charts" in html_of(page)
            path = "/" + found.group(1).split("/", 3)[3]
            with httpx.Client(base_url=stack.url, verify=stack.tls) as browser:
                shown = browser.get(path)
                assert shown.status_code == 200 and "Rebuild the charts?" in shown.text
                assert receiver.calls == []  # GET shows, changes nothing
                token = re.search(r'name="token" value="([^"]+)"', shown.text)
                assert token
                pressed = browser.post("/actions/run", data={"token": token.group(1)})
                assert "Requested" in pressed.text
                stack.settle()
                assert len(receiver.calls) == 1  # 500: retried after the back-off
                stack.clock.advance(timedelta(seconds=10))
                stack.settle()
                again = browser.post("/actions/run", data={"token": token.group(1)})
                assert "Already requested" in again.text
                forged = browser.get(path + "x")
                assert forged.status_code == 400
            stack.clock.advance(timedelta(minutes=5))
            stack.settle()
            with stack.client() as client:
                timeline = client.get(f"/v1/incidents/{incident_id}").json()["timeline"]
    assert len(receiver.calls) == 2
    keys_sent = {headers["Idempotency-Key"] for headers, _ in receiver.calls}
    assert keys_sent == {f"{incident_id}:action0"}
    when = pacific("2026-11-24 10:00").timestamp()
    for headers, body in receiver.calls:
        assert verify("hook-secret-0123456789", headers["X-Router-Signature"], body, when, 3600)
        assert not verify("wrong-secret", headers["X-Router-Signature"], body, when, 3600)
    assert json.loads(receiver.calls[-1][1]) == {
        "dag": "growth_charts",
        "incident": incident_id,
        "by": "Biswa Kalyan Rath (email link)",
    }
    done = [e for e in timeline if e["kind"] in ("action requested", "action", "action failed")]
    assert [(e["kind"], e.get("detail", "")) for e in done] == [
        ("action requested", ""),
        ("action", f"HTTP 200 from {url}/rebuild"),
    ]


def test_a_signature_outside_the_replay_window_is_refused() -> None:
    body = b'{"x": 1}'
    header = signature("s3cret", 1_000_000, body)
    assert verify("s3cret", header, body, 1_000_000 + 299)
    assert not verify("s3cret", header, body, 1_000_000 + 301)
    assert not verify("s3cret", header, body + b" ", 1_000_000)


def test_the_shipped_airflow_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    source = (RULES_DIR / "pipelines.yaml").read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(source) if line.strip() == "# chart_broken:")
    lines = list(source)
    n = start
    while lines[n].lstrip().startswith("#"):
        lines[n] = lines[n].replace("# ", "", 1)
        n += 1
    copy = copy_rules(tmp_path / "rules")
    (copy / "pipelines.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (action,) = load_rules(copy).pipeline("growth.aggregate").actions["chart_broken"]
    assert isinstance(action, WebhookAction) and action.confirm
    assert action.webhook.url.endswith("/api/v1/dags/growth_charts/dagRuns")
    body = render_body(action.webhook.body, {"incident": {"id": "abc"}, "by": "Kshama Kumar"})
    assert json.loads(body) == {
        "dag_run_id": "router-abc",
        "conf": {"incident": "abc", "asked_by": "Kshama Kumar"},
    }


def test_the_weekly_report_reaches_both_engineers_with_the_weeks_counts(tmp_path: Path) -> None:
    """Kshama Kumar's week, Mon 2026-12-07 09:00 to Mon 2026-12-14 09:00, played in."""
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-12-07 10:00")) as stack:

        def at(local: str) -> None:
            stack.clock.set(pacific(local))
            stack.settle()

        def act(dedup_key: str, action: str, local: str) -> None:
            at(local)
            with stack.client() as client:
                answer = client.post(f"/v1/incidents/{stack.incident_id(dedup_key)}/{action}")
                assert answer.status_code == 200, answer.text

        def event(local: str, **fields: str) -> None:
            at(local)
            stack.send_event(fields)
            stack.settle()

        event(
            "2026-12-08 11:00",
            pipeline="growth.aggregate",
            type="chart_broken",
            summary="blank",
            dedup_key="chart",
        )
        act("chart", "acknowledge", "2026-12-08 11:10")
        act("chart", "resolve", "2026-12-08 13:00")
        event(
            "2026-12-09 02:00",
            pipeline="growth.aggregate",
            type="job_failed",
            severity="P1",
            summary="failed",
            dedup_key="p1",
        )
        act("p1", "acknowledge", "2026-12-09 02:10")
        act("p1", "resolve", "2026-12-09 02:40")
        event(
            "2026-12-10 14:00",
            pipeline="growth.aggregate",
            type="slow_query",
            summary="p95 40 s",
            dedup_key="slow",
        )
        act("slow", "acknowledge", "2026-12-10 14:05")
        with stack.client() as client:
            note = {"text": "Index missing on the events table", "estimate": "2026-12-16T17:00"}
            client.post(f"/v1/incidents/{stack.incident_id('slow')}/notes", json=note)
        event(
            "2026-12-12 15:00",
            pipeline="growth.daily",
            type="data_missing",
            summary="no rows",
            dedup_key="daily",
        )
        act("daily", "acknowledge", "2026-12-12 15:05")
        act("daily", "resolve", "2026-12-12 16:00")
        at("2026-12-14 09:00:30")  # the handoff to Aruna Sharma
        reports = [
            m for m in _kinds(stack, "weekly_report")
            if "2026-12-14" in str(m["X-Alert-Router-Idempotency-Key"])
        ]  # fmt: skip
    assert sorted(str(m["To"]) for m in reports) == [
        "aruna.sharma@example.com",
        "kshama.kumar@example.com",
    ]
    text = text_of(reports[0])
    assert "Subject" not in text and str(reports[0]["Subject"]).endswith("4 page(s), 1 open")
    assert "- Biswa Kalyan Rath: 2, 0, 0, 0" in text
    assert "- Kshama Kumar: 0, 1, 1, 0" in text
    assert "- Aggregate growth: 3 acknowledged in 10.0 min, 2 resolved in 80.0 min" in text
    assert "- Daily growth: 1 acknowledged in 5.0 min, 1 resolved in 60.0 min" in text
    assert "[P3] growth.aggregate: p95 40 s (acknowledged)" in text
    assert "Index missing on the events table (estimate: Wed 2026-12-16 17:00 PST)" in text
    # the chart: a PNG inline in the HTML part (multipart/related, by its Content-ID)
    assert 'src="cid:pages-chart"' in html_of(reports[0])
    (chart,) = [part for part in reports[0].walk() if part.get_content_type() == "image/png"]
    assert chart["Content-ID"] == "<pages-chart>"
    png = chart.get_payload(decode=True)
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG") and len(png) > 2000
    if os.environ.get("ROUTER_SCREENSHOTS"):
        (Path(os.environ["ROUTER_SCREENSHOTS"]) / "weekly-report-chart.png").write_bytes(png)


def test_a_missed_deadline_tells_the_analysts_of_the_reports_it_feeds(tmp_path: Path) -> None:
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-11-24 18:59")) as stack:
        stack.settle()
        assert _kinds(stack, "report_delayed") == []
        stack.clock.set(pacific("2026-11-24 19:00:01"))
        stack.settle()
        delayed = _kinds(stack, "report_delayed")
        stack.clock.set(pacific("2026-11-24 19:30"))
        stack.settle()
        assert len(_kinds(stack, "report_delayed")) == 1  # once
    # unit-level profit (experiments) feeds aggregate profit (investors): that report waits
    assert [str(m["Subject"]) for m in delayed] == [
        "Aggregate profit report for 2026-11-24 delayed"
    ]
    assert "Unit-level profit has an open problem" in text_of(delayed[0])


@pytest.mark.parametrize("reported", [True, False])
def test_a_deadline_can_expect_any_ready_type(tmp_path: Path, reported: bool) -> None:
    def report_by_five(data: dict[str, Any]) -> None:
        growth = next(p for p in data["pipelines"] if p["id"] == "growth.aggregate")
        growth["deadlines"] = [
            {
                "name": "Growth report by 17:00",
                "at": "17:00",
                "expects": "report_ready",
                "raises": "data_late",
            }
        ]

    rules_dir = copy_rules(tmp_path / "rules", pipelines=report_by_five)
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-24 16:00")) as stack:
        if reported:
            stack.send_event({"pipeline": "growth.aggregate", "type": "report_ready"})
        stack.settle()  # folded before the clock reaches the deadline
        stack.clock.set(pacific("2026-11-24 17:00:01"))
        stack.settle()
        late = [i for i in stack.runtime.engine.store.listing(None) if i.type == "data_late"]
    assert [i.pipeline for i in late] == ([] if reported else ["growth.aggregate"])


def test_the_runbook_lists_the_maintenance_windows(tmp_path: Path) -> None:
    def windows(data: dict[str, Any]) -> None:
        data["maintenance"] = [
            {"pipelines": ["growth.aggregate"], "weekly": "Sat 02:00-06:00", "reason": "warehouse"}
        ]

    rules = edited_rules(tmp_path, routing=windows)
    once = one_off("mw_1", "backfill", pacific("2026-12-12 08:00"), pacific("2026-12-12 10:00"))
    rules = rules.model_copy(update={"maintenance": (once,)})
    written = render(runbook_blocks(rules, pacific("2026-12-10 12:00")), "md")
    assert "## Maintenance windows" in written
    assert (
        "- rules-1, every Sat 02:00-06:00 (America/Los_Angeles): growth.aggregate page nobody, "
        "P1s aside. warehouse." in written
    )
    assert "- mw_1, Sat 2026-12-12 08:00 PST to Sat 2026-12-12 10:00 PST: all pipelines" in written
    later = render(runbook_blocks(rules, pacific("2026-12-13 12:00")), "md")
    assert "mw_1" not in later and "rules-1" in later  # an ended one-off is gone
