"""The Slack app (issue 22): the team stream as one thread per incident with Acknowledge
and Resolve buttons, presses signed by Slack acting as the engineer who pressed, and
/oncall; on the running router (real Redis, a real Celery worker, the API over TLS, the
scheduler) with the clock moved. Slack's Web API is a local server behind slack_sdk's
base_url (tests.slackapi); the presses are signed as Slack signs them."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from router.service import acting
from router.state.sessions import COOKIE
from router.state.stream import line_for
from tests.slackapi import CHANNEL_ID, Call, FakeSlack, command_body, fake_slack, press_body, signed
from tests.stack import KSHAMA_TOKEN, Stack, console_session, running_stack, wait_until
from tests.support import copy_rules, pacific
from tests.test_channels import _p1

K, B = "Kshama Kumar", "Biswa Kalyan Rath"
KSHAMA_SLACK = "U0KSHAMA"
BISWA_SLACK = "U0BISWA"  # no slack_id in team.yaml: found by his email (users.info)
STRANGER_SLACK = "U0STRANGER"
ANALYST_SLACK = "U0ANALYST"
BOT_TOKEN = "xoxb-0000-slack-bot-token-do-not-print"
SIGNING_SECRET = "slack-signing-secret-0123456789"
INBOUND_SECRET = "inbound-secret-0123456789"
SUNDAY_3AM = pacific("2026-11-29 03:00")  # Kshama Kumar on call (Thanksgiving period)


def _rules(tmp_path: Path) -> Path:
    def edit(team: dict[str, Any]) -> None:
        team["slack"] = {"channel": "#data-eng"}
        for person in team["engineers"]:
            if person["name"] == K:
                person["slack_id"] = KSHAMA_SLACK

    return copy_rules(tmp_path / "rules", team=edit)


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, str]]:
    with fake_slack() as found:
        found[0].emails[BISWA_SLACK] = "Biswa.Rath@example.com"
        found[0].emails[STRANGER_SLACK] = "mallory@example.net"
        found[0].emails[ANALYST_SLACK] = "analyst@example.com"  # team.yaml's analyst
        yield found


@pytest.fixture
def stack(tmp_path: Path, slack: tuple[FakeSlack, str]) -> Iterator[Stack]:
    _, base_url = slack
    with running_stack(
        _rules(tmp_path),
        tmp_path / "outbox",
        SUNDAY_3AM,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        ROUTER_SLACK_API_URL=base_url,
        ROUTER_INBOUND_SECRET=INBOUND_SECRET,
    ) as running:
        yield running


def _press(
    stack: Stack,
    user_id: str,
    action: str,
    incident_id: str,
    *,
    age_s: int = 0,
    secret: str = SIGNING_SECRET,
    retry: int | None = None,
    action_ts: str = "1765000100.1",
) -> httpx.Response:
    body = press_body(user_id, action, incident_id, action_ts)
    headers = signed(body, secret, int(stack.clock.now().timestamp()) - age_s)
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        return client.post("/v1/slack/interactions", content=body, headers=headers)


def _told(fake: FakeSlack, count: int) -> list[Call]:
    """The ephemeral lines, once `count` have come (they go after the press's answer)."""
    wait_until(lambda: len(fake.of("chat.postEphemeral")) >= count, what="ephemeral lines")
    told = fake.of("chat.postEphemeral")
    assert len(told) == count, told
    return told


def _buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [
        element["action_id"]
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def _head_text(blocks: list[dict[str, Any]]) -> str:
    return str(blocks[0]["text"]["text"])


def _status(stack: Stack, incident_id: str) -> tuple[str, str | None]:
    incident = stack.runtime.engine.store.get(incident_id)
    assert incident is not None
    return incident.status, incident.acknowledged_by


def _emails_to(stack: Stack, address: str) -> int:
    return sum(1 for m in stack.emails() if str(m["To"]) == address)


def test_one_incident_is_one_thread_and_its_head_shows_who_acknowledged(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    incident_id = _p1(stack, "slack-thread")
    (head,) = fake.of("chat.postMessage")
    assert head.args["channel"] == "#data-eng" and "thread_ts" not in head.args
    assert head.headers["Authorization"] == f"Bearer {BOT_TOKEN}"
    assert _head_text(head.args["blocks"]) == (
        "*[P1] Aggregate growth: growth job died*\nTriggered: paging Kshama Kumar"
    )
    assert _buttons(head.args["blocks"]) == ["acknowledge", "resolve"]
    values = {
        e["value"] for b in head.args["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    assert values == {incident_id}
    thread_ts = head.said["ts"]

    stack.clock.advance(timedelta(minutes=15))  # nobody acknowledged: escalated
    stack.settle()
    pressed = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    assert pressed.status_code == 200 and pressed.json() == {"result": "acknowledged"}
    stack.settle()
    assert _status(stack, incident_id) == ("acknowledged", f"{K} (Slack)")

    with stack.client() as client:
        answer = client.post(
            f"/v1/incidents/{incident_id}/resolve",
            headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text
    stack.settle()

    posts = fake.of("chat.postMessage")
    replies = posts[1:]
    assert [(p.args["channel"], p.args["thread_ts"]) for p in replies] == [
        (CHANNEL_ID, thread_ts)
    ] * 3
    assert [p.args["text"] for p in replies] == [
        "Escalated: paging Biswa Kalyan Rath",
        f"Acknowledged by {K} (Slack)",
        "Resolved by kshama",
    ]
    updates = fake.of("chat.update")
    assert [(u.args["channel"], u.args["ts"]) for u in updates] == [(CHANNEL_ID, thread_ts)] * 3
    states = [
        (_head_text(u.args["blocks"]).split("\n")[1], _buttons(u.args["blocks"])) for u in updates
    ]
    assert states == [
        ("Escalated: paging Biswa Kalyan Rath", ["acknowledge", "resolve"]),
        (f"Acknowledged by {K} (Slack)", ["resolve"]),
        ("Resolved by kshama", []),
    ]


def test_a_signed_press_stops_the_escalation_and_is_recorded_as_her(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    incident_id = _p1(stack, "slack-ack")
    pressed = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    assert pressed.status_code == 200 and pressed.json() == {"result": "acknowledged"}
    stack.settle()
    acks = [e for e in stack.runtime.engine.store.timeline(incident_id) if e["kind"] == "event"]
    assert [(e["action"], e["source"]) for e in acks if e["action"] != "trigger"] == [
        ("acknowledge", f"{K} (Slack)")
    ]
    with stack.client() as client:
        (audited,) = client.get("/v1/audit").json()["audit"]
    assert audited == {
        "at": "2026-11-29T11:00:00Z",
        "by": f"{K} (Slack)",
        "action": "incident acknowledged",
        "incident": {
            "id": incident_id,
            "pipeline": "growth.aggregate",
            "summary": "growth job died",
        },
    }
    stack.clock.advance(timedelta(minutes=45))  # three escalation steps' worth
    stack.settle()
    assert _emails_to(stack, "biswa.rath@example.com") == 0  # nobody else paged
    assert _status(stack, incident_id) == ("acknowledged", f"{K} (Slack)")


def test_a_forged_stale_or_strangers_press_changes_nothing(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    incident_id = _p1(stack, "slack-refused")
    forged = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id, secret="not-the-secret")
    assert forged.status_code == 401 and "not signed by Slack" in forged.json()["message"]
    stale = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id, age_s=6 * 60)
    assert stale.status_code == 401
    body = press_body(KSHAMA_SLACK, "acknowledge", incident_id, "1765000100.1")
    garbled = {**signed(body, SIGNING_SECRET, 0), "X-Slack-Request-Timestamp": "soon"}
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        answer = client.post("/v1/slack/interactions", content=body, headers=garbled)
        assert answer.status_code == 401  # not a number: not Slack's
        unsigned = client.post("/v1/slack/interactions", content=body)
        assert unsigned.status_code == 401
        nobody = urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})
        stamp = int(stack.clock.now().timestamp())
        bad = client.post(
            "/v1/slack/interactions", content=nobody, headers=signed(nobody, SIGNING_SECRET, stamp)
        )
        assert bad.status_code == 400
        assert [e.split(":")[0] for e in bad.json()["errors"]] == [
            "payload.user",
            "payload.actions",
        ]
    stranger = _press(stack, STRANGER_SLACK, "resolve", incident_id)
    assert stranger.status_code == 200 and stranger.json() == {"result": "refused"}
    (refusal,) = _told(fake, 1)
    assert refusal.args["user"] == STRANGER_SLACK and refusal.args["channel"] == CHANNEL_ID
    assert refusal.args["text"].startswith("You are not one of this team's engineers")
    assert "nothing was changed" in refusal.args["text"]
    unknown = _press(stack, "U0NOBODY", "acknowledge", incident_id)  # users.info: not found
    assert unknown.json() == {"result": "refused"}
    _told(fake, 2)  # in order: each goes after its press's answer
    analyst = _press(stack, ANALYST_SLACK, "resolve", incident_id)  # analysts act on nothing
    assert analyst.json() == {"result": "refused"}
    assert [call.args["user"] for call in _told(fake, 3)] == [
        STRANGER_SLACK,
        "U0NOBODY",
        ANALYST_SLACK,
    ]
    stack.settle()
    assert _status(stack, incident_id) == ("triggered", None)
    timeline = stack.runtime.engine.store.timeline(incident_id)
    assert [e["action"] for e in timeline if e.get("action")] == ["trigger"]

    stack.clock.advance(timedelta(minutes=15))  # the escalation goes on
    stack.settle()
    assert _emails_to(stack, "biswa.rath@example.com") == 1
    # Biswa has no slack_id: his Slack email (other case) finds him
    by_email = _press(stack, BISWA_SLACK, "acknowledge", incident_id)
    assert by_email.json() == {"result": "acknowledged"}
    assert _status(stack, incident_id) == ("acknowledged", f"{B} (Slack)")
    again = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id, action_ts="1765000200.2")
    assert again.json() == {"result": "unchanged"}
    assert _told(fake, 4)[-1].args["text"] == (f"This incident is acknowledged by {B} (Slack).")


def test_a_retried_delivery_acts_once(stack: Stack, slack: tuple[FakeSlack, str]) -> None:
    incident_id = _p1(stack, "slack-retry")
    first = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    retried = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id, retry=1)
    assert first.json() == {"result": "acknowledged"} and retried.json() == {"result": "repeat"}
    stack.settle()
    timeline = stack.runtime.engine.store.timeline(incident_id)
    assert [e["action"] for e in timeline if e.get("action")] == ["trigger", "acknowledge"]
    with stack.client() as client:
        audit = client.get("/v1/audit").json()["audit"]
    assert [a["action"] for a in audit] == ["incident acknowledged"]
    fake, _ = slack
    replies = [p.args["text"] for p in fake.of("chat.postMessage")[1:]]
    assert replies == [f"Acknowledged by {K} (Slack)"]  # one line in the thread


def test_two_presses_at_once_act_once_and_the_second_is_told_who_was_first(
    stack: Stack,
) -> None:
    incident_id = _p1(stack, "slack-race")
    seen = stack.runtime.engine.store.get(incident_id)  # what both presses read
    assert seen is not None
    first = acting.act(stack.runtime, seen, "acknowledge", f"{K} (Slack)")
    second = acting.act(stack.runtime, seen, "acknowledge", f"{B} (Slack)")
    assert (first.changed, second.changed) == (True, False)
    assert second.incident.acknowledged_by == f"{K} (Slack)"
    with stack.client() as client:
        audit = client.get("/v1/audit").json()["audit"]
    assert [(a["action"], a["by"]) for a in audit] == [("incident acknowledged", f"{K} (Slack)")]


def test_a_press_slack_cannot_vouch_for_changes_nothing_and_may_come_again(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    fake.script.append(("users.info", 500, {"ok": False, "error": "fatal_error"}, {}))
    incident_id = _p1(stack, "slack-who")
    pressed = _press(stack, BISWA_SLACK, "acknowledge", incident_id)  # no slack_id: asked
    assert pressed.json() == {"result": "failed"}
    assert _told(fake, 1)[0].args["text"].endswith("press again.")
    assert _status(stack, incident_id) == ("triggered", None)
    again = _press(stack, BISWA_SLACK, "acknowledge", incident_id)  # the same press, again
    assert again.json() == {"result": "acknowledged"}
    gone = _press(stack, KSHAMA_SLACK, "resolve", "no-such-incident")
    assert gone.json() == {"result": "refused"}
    assert _told(fake, 2)[1].args["text"] == "No incident no-such-incident in alert-router."


def test_a_head_not_updated_is_left_to_the_next_line_and_a_head_goes_once(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    fake.script.append(("chat.update", 500, {"ok": False, "error": "internal_error"}, {}))
    incident_id = _p1(stack, "slack-update")
    stack.clock.advance(timedelta(minutes=15))  # escalated: its update fails
    stack.settle()
    stack.clock.advance(timedelta(minutes=1))  # past any back-off: nothing is sent again
    stack.settle()
    assert [p.args["text"] for p in fake.of("chat.postMessage")[1:]] == [
        "Escalated: paging Biswa Kalyan Rath"
    ]
    assert [u.said["ok"] for u in fake.of("chat.update")] == [False]
    _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    stack.settle()
    (_, updated) = fake.of("chat.update")
    assert _head_text(updated.args["blocks"]).endswith(f"Acknowledged by {K} (Slack)")

    # the head's send again (its outcome lost, its lease run out): no second head
    line = stack.runtime.engine.store.get(incident_id)
    assert line is not None
    outbound = stack.runtime.engine.firing.outbound
    head = outbound.slack_posts.post(line_for(line, "triggered"), 0, "again", "#data-eng")
    kept = stack.runtime.slack.send(head, stack.clock.now(), lambda needed_s: None)
    assert kept == fake.of("chat.postMessage")[0].said["ts"]
    assert len(fake.of("chat.postMessage")) == 3  # the head and two replies, no more


def test_an_app_without_the_email_scope_is_a_warning_not_a_silent_refusal(
    stack: Stack, slack: tuple[FakeSlack, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, _ = slack
    no_email = {"ok": True, "user": {"id": BISWA_SLACK, "profile": {"real_name": "Biswa"}}}
    fake.script.append(("users.info", 200, no_email, {}))  # as without users:read.email
    incident_id = _p1(stack, "slack-scope")
    with caplog.at_level(logging.WARNING, logger="router.delivery.slack.api"):
        pressed = _press(stack, BISWA_SLACK, "acknowledge", incident_id)
    assert pressed.json() == {"result": "refused"}
    assert f"Slack gave no email for {BISWA_SLACK} (the app needs users:read.email)" in [
        r.getMessage() for r in caplog.records
    ]
    assert _status(stack, incident_id) == ("triggered", None)


def test_oncall_answers_who_is_on_call_now_and_next(stack: Stack) -> None:
    body = command_body("/oncall", STRANGER_SLACK)
    headers = signed(body, SIGNING_SECRET, int(stack.clock.now().timestamp()))
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        answer = client.post("/v1/slack/commands", content=body, headers=headers)
        forged = client.post(
            "/v1/slack/commands", content=body, headers={**headers, "X-Slack-Signature": "v0=00"}
        )
    assert forged.status_code == 401
    said = answer.json()
    assert said["response_type"] == "ephemeral"
    now_line, next_line = said["text"].split("\n")
    assert now_line == f"On call now: *{K}* (Thanksgiving), until Sun Nov 29 09:00 PST"
    assert next_line == f"Next: *{B}* (Thanksgiving), from Sun Nov 29 09:00 PST"


def test_a_refused_line_is_on_the_timeline_and_the_next_still_goes(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    fake.script.append(("chat.postMessage", 200, {"ok": False, "error": "not_in_channel"}, {}))
    incident_id = _p1(stack, "slack-refused-line")
    (failed,) = [
        e for e in stack.runtime.engine.store.timeline(incident_id) if e["kind"] == "chat failed"
    ]
    assert failed["detail"] == "Slack: not_in_channel"
    pressed = _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    assert pressed.json() == {"result": "acknowledged"}
    stack.settle()
    # the head was never posted: the next line heads a thread of its own, naming the incident
    posts = fake.of("chat.postMessage")
    assert len(posts) == 2 and "thread_ts" not in posts[1].args
    assert _head_text(posts[1].args["blocks"]).startswith("*[P1] Aggregate growth")
    assert _buttons(posts[1].args["blocks"]) == ["resolve"]


def test_a_rate_limited_line_waits_as_slack_asks_then_goes_once(
    stack: Stack, slack: tuple[FakeSlack, str]
) -> None:
    fake, _ = slack
    limited = {"ok": False, "error": "ratelimited"}
    fake.script.append(("chat.postMessage", 429, limited, {"Retry-After": "30"}))
    incident_id = _p1(stack, "slack-429")
    assert len(fake.of("chat.postMessage")) == 1  # answered 429
    stack.clock.advance(timedelta(seconds=stack.runtime.settings.retry_backoff_s))
    stack.settle()
    assert len(fake.of("chat.postMessage")) == 1  # past our back-off, not Slack's 30 s
    stack.clock.advance(timedelta(seconds=30))
    stack.settle()
    posts = fake.of("chat.postMessage")
    assert len(posts) == 2 and posts[1].said["ok"]  # tried again: the thread's head
    assert _buttons(posts[1].args["blocks"]) == ["acknowledge", "resolve"]
    stack.clock.advance(timedelta(minutes=5))
    stack.settle()
    assert len(fake.of("chat.postMessage")) == 2  # and never again
    timeline = stack.runtime.engine.store.timeline(incident_id)
    assert [e for e in timeline if e["kind"] == "chat failed"] == []


def test_slack_secrets_never_show(
    stack: Stack, slack: tuple[FakeSlack, str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Logs of a whole flow (at DEBUG, slack_sdk's requests included), `router check`
    and the console's pages: no bot token, no signing secret, no inbound secret."""
    caplog.set_level(logging.DEBUG)
    incident_id = _p1(stack, "slack-secrets")
    _press(stack, KSHAMA_SLACK, "acknowledge", incident_id, secret="forged")
    _press(stack, STRANGER_SLACK, "acknowledge", incident_id)
    _press(stack, KSHAMA_SLACK, "acknowledge", incident_id)
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        for password in (INBOUND_SECRET, "wrong"):
            sent = client.post("/v1/inbound/sendgrid", files={"text": (None, "ack")},
                               auth=("sendgrid", password))  # fmt: skip
            assert sent.status_code == (200 if password == INBOUND_SECRET else 401)
    stack.settle()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "slack_sdk" in logged and "chat.postMessage" in logged  # its requests were logged

    env = {
        "ROUTER_INBOUND_SECRET": INBOUND_SECRET,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "PATH": "/usr/bin:/bin",
    }
    rules_dir = str(stack.runtime.settings.rules_dir)

    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "router", "check", "--rules", rules_dir]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    checked = check(env)
    assert checked.returncode == 0, checked.stderr
    assert "Slack app, channel #data-eng" in checked.stdout
    assert "SLACK_BOT_TOKEN set" not in checked.stdout
    unset = {name: value for name, value in env.items() if name != "SLACK_BOT_TOKEN"}
    warned = check(unset)
    assert warned.returncode == 0 and "slack needs SLACK_BOT_TOKEN set" in warned.stdout

    session_id, _ = console_session(stack, K)
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        client.cookies.set(COOKIE, session_id)
        pages = [
            client.get(path).text
            for path in ("/", "/oncall", "/maintenance", f"/incidents/{incident_id}")
        ]
    shown = "\n".join([logged, checked.stdout, checked.stderr, *pages, json.dumps(pages)])
    for secret in (BOT_TOKEN, SIGNING_SECRET, BOT_TOKEN[5:20], INBOUND_SECRET):
        assert secret not in shown
