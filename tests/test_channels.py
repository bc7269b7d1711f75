"""Pages that wake people (issue 11): push and chat through apprise beside email, on the
running router (real Redis, a real Celery worker, the API, the scheduler) with the clock
moved. Push targets and the team chat are local HTTP servers: apprise's json:// and
ntfy:// URLs pointed at 127.0.0.1."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from fastapi.testclient import TestClient

from router.api.app import create_api
from router.delivery.channels.apprise_backend import with_acknowledge
from router.queue.tasks import FIRE, URGENT_QUEUE
from router.service.runtime import Runtime, build_runtime
from router.state.publish import redis_sender
from router.state.sessions import Logins
from router.state.timers import Timer
from tests.mailservers import WebhookReceiver, webhook_receiver
from tests.stack import (
    KSHAMA_TOKEN,
    Stack,
    running_stack,
    settings_for,
    text_of,
)
from tests.support import copy_rules, pacific

K, B = "Kshama Kumar", "Biswa Kalyan Rath"
SUNDAY_3AM = pacific("2026-11-29 03:00")  # Kshama Kumar on call (Thanksgiving period)
TUESDAY_11AM = pacific("2026-12-01 11:00")  # business hours


def _rules(tmp_path: Path, base: str, chat: bool | str = False) -> Path:
    """Kshama Kumar pushed through ntfy, Biswa Kalyan Rath through a JSON webhook, both
    at the local receiver `base`; the team chat there too if `chat` (or at `chat`)."""
    host = base.removeprefix("http://")

    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            if person["name"] == K:
                person["contact_methods"] = [f"ntfy://{host}/kshama-pager"]
            if person["name"] == B:
                person["contact_methods"] = [f"json://{host}/biswa"]
        if chat:
            chat_host = chat.removeprefix("http://") if isinstance(chat, str) else host
            team["chat"] = f"json://{chat_host}/team-chat"

    return copy_rules(tmp_path / "rules", team=edit)


def _ntfy(receiver: WebhookReceiver, topic: str) -> list[dict[str, Any]]:
    bodies = [json.loads(body) for _, body in list(receiver.calls)]
    return [body for body in bodies if body.get("topic") == topic]


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as found:
        yield found


def _stack(tmp_path: Path, base: str, start: datetime, chat: bool | str = False) -> Any:
    return running_stack(_rules(tmp_path, base, chat), tmp_path / "outbox", start)


def _emails_to(stack: Stack, address: str) -> int:
    return sum(1 for m in stack.emails() if str(m["To"]) == address)


def _timeline(stack: Stack, incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in stack.runtime.engine.store.timeline(incident_id) if e["kind"] == kind]


def _said(stack: Stack, incident_id: str) -> str:
    """What the router did, for a failing assertion's message."""
    markers = {str(key): stack.redis.get(key) for key in stack.redis.keys("ar:sent:*")}
    timers = stack.redis.zrange("ar:timers", 0, -1, withscores=True)
    return f"timeline {stack.runtime.engine.store.timeline(incident_id)}; sent {markers}; timers {timers}"


def _p1(stack: Stack, dedup_key: str) -> str:
    stack.send_event(
        {
            "pipeline": "growth.aggregate",
            "type": "job_failed",
            "severity": "P1",
            "summary": "growth job died",
            "dedup_key": dedup_key,
        }
    )
    stack.settle()
    return stack.incident_id(dedup_key)


def test_a_p1_on_sunday_night_pushes_once_and_emails_once_even_when_redelivered(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    with _stack(tmp_path, base, SUNDAY_3AM) as stack:
        incident_id = _p1(stack, "night")
        pushed = _ntfy(calls, "kshama-pager")
        assert len(pushed) == 1, _said(stack, incident_id)
        assert pushed[0]["title"] == "[P1] Aggregate growth: growth job died"
        # the same signed Acknowledge link the email has, for its recipient
        ack_url = next(
            line.removeprefix("Acknowledge: ")
            for line in pushed[0]["message"].splitlines()
            if line.startswith("Acknowledge: ")
        )
        public_url = stack.runtime.settings.public_url
        assert ack_url.startswith(f"{public_url}/email/acknowledge?token=")
        email = next(m for m in stack.emails() if str(m["To"]) == "kshama.kumar@example.com")
        assert ack_url in text_of(email)
        assert _emails_to(stack, "kshama.kumar@example.com") == 1
        (entry,) = _timeline(stack, incident_id, "push")
        assert entry["to"] == K and entry["channel"].startswith("ntfy://127.0.0.1")

        # the worker runs the step's timer task again (a redelivery): nothing goes twice
        send = redis_sender(stack.redis)
        send(FIRE, [f"step:{incident_id}:0:0"], URGENT_QUEUE)
        stack.settle()
        assert len(_ntfy(calls, "kshama-pager")) == 1
        assert _emails_to(stack, "kshama.kumar@example.com") == 1
        assert len(calls.calls) == 1


def test_a_p2_in_business_hours_pushes_after_five_minutes_only_if_unacknowledged(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    with _stack(tmp_path, base, TUESDAY_11AM) as stack:
        for key in ("left", "acked"):
            stack.send_event(
                {"pipeline": "growth.aggregate", "type": "job_failed", "dedup_key": key}
            )
        stack.settle()
        left, acked = stack.incident_id("left"), stack.incident_id("acked")
        assert _emails_to(stack, "biswa.rath@example.com") == 2  # both emailed at once
        assert calls.json_calls("/biswa") == []

        stack.clock.advance(timedelta(minutes=2))
        with stack.client() as client:
            answer = client.post(f"/v1/incidents/{acked}/acknowledge")
        assert answer.status_code == 200, answer.text
        stack.clock.advance(timedelta(minutes=2, seconds=59))  # 11:04:59
        stack.settle()
        assert calls.json_calls("/biswa") == []

        stack.clock.set(TUESDAY_11AM + timedelta(minutes=5))
        stack.settle()
        pushed = calls.json_calls("/biswa")
        assert len(pushed) == 1  # the unacknowledged one only
        assert pushed[0]["type"] == "warning"  # low urgency
        assert _timeline(stack, left, "push") and not _timeline(stack, acked, "push")

        stack.clock.advance(timedelta(minutes=9))  # 11:14: before the next step, no more
        stack.settle()
        assert len(calls.json_calls("/biswa")) == 1
        assert _emails_to(stack, "biswa.rath@example.com") == 2


def test_a_push_target_answering_500_is_retried(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    calls.script.extend([500])
    with _stack(tmp_path, base, SUNDAY_3AM) as stack:
        incident_id = _p1(stack, "flaky")
        assert len(_ntfy(calls, "kshama-pager")) == 1  # answered 500
        assert _timeline(stack, incident_id, "push") == []
        assert _emails_to(stack, "kshama.kumar@example.com") == 1  # the email went anyway

        stack.clock.advance(timedelta(seconds=stack.runtime.settings.retry_backoff_s))
        stack.settle()
        assert len(_ntfy(calls, "kshama-pager")) == 2  # tried again, answered 200
        (entry,) = _timeline(stack, incident_id, "push")
        assert entry["to"] == K
        assert _emails_to(stack, "kshama.kumar@example.com") == 1


def test_a_push_target_answering_400_is_recorded_as_failed_and_escalation_goes_on(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    calls.script.extend([400])
    with _stack(tmp_path, base, SUNDAY_3AM) as stack:
        incident_id = _p1(stack, "refused")
        (failed,) = _timeline(stack, incident_id, "push failed")
        assert failed["to"] == K and "error=400" in failed["detail"]
        assert _emails_to(stack, "kshama.kumar@example.com") == 1

        stack.clock.advance(timedelta(minutes=10))  # past any retry back-off
        stack.settle()
        assert len(_ntfy(calls, "kshama-pager")) == 1  # never retried

        stack.clock.advance(timedelta(minutes=5))  # the next step: the primary owner
        stack.settle()
        assert _emails_to(stack, "biswa.rath@example.com") == 1
        assert len(calls.json_calls("/biswa")) == 1  # and his push, at once for a P1


def test_the_team_chat_gets_each_change_of_an_incident_once_in_order(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    with _stack(tmp_path, base, SUNDAY_3AM, chat=True) as stack:
        incident_id = _p1(stack, "chatty")
        stack.clock.advance(timedelta(minutes=15))  # nobody acknowledged: escalated
        stack.settle()
        # the escalation's timer fired again (a redelivery) writes its line once
        incident = stack.runtime.engine.store.get(incident_id)
        assert incident is not None
        escalated = Timer(
            incident=incident_id,
            round=incident.escalation[1].round,
            step=incident.escalation[1].step,
        )
        redis_sender(stack.redis)(FIRE, [escalated.member()], URGENT_QUEUE)
        stack.settle()
        with stack.client() as client:
            for action in ("acknowledge", "resolve"):
                answer = client.post(
                    f"/v1/incidents/{incident_id}/{action}",
                    headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"},
                )
                assert answer.status_code == 200, answer.text
                stack.settle()
        # the chat timer fired again (a redelivery) sends nothing twice
        redis_sender(stack.redis)(FIRE, [f"chat:{incident_id}:0:0"], URGENT_QUEUE)
        stack.settle()

        lines = [call["message"].split(" · ")[0] for call in calls.json_calls("/team-chat")]
        assert lines == [
            "Triggered: paging Kshama Kumar",
            "Escalated: paging Biswa Kalyan Rath",
            "Acknowledged by kshama",
            "Resolved by kshama",
        ]
        first = calls.json_calls("/team-chat")[0]
        assert first["title"] == "[P1] Aggregate growth: growth job died"
        assert f"/incidents/{incident_id}" in first["message"]


def _signed_in(client: TestClient, runtime: Runtime, person: str) -> str:
    """Signs `client` in as `person` through a login link; returns the session's CSRF."""
    secret = runtime.settings.secret_key.get_secret_value().encode()

    async def new_token() -> str:
        async with redis.asyncio.Redis.from_url(runtime.settings.redis_url) as client:
            return await Logins(secret).start(client, person)

    token = asyncio.run(new_token())
    shown = client.get("/login/link", params={"token": token})
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    assert csrf
    done = client.post("/login/link", data={"token": token, "csrf": csrf.group(1)})
    assert done.status_code == 200, done.text  # followed to the console
    page = client.get("/oncall")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def test_the_console_shows_each_persons_methods_masked_and_sends_a_test(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    """In-process (no worker needed): the test is sent from the API process."""
    calls, base = receiver
    rules_dir = _rules(tmp_path, base)
    host = base.removeprefix("http://")
    runtime = build_runtime(settings_for(rules_dir, tmp_path / "outbox", db=6))
    runtime.redis.flushdb()
    try:
        with TestClient(create_api(runtime), base_url="https://testserver") as client:
            csrf = _signed_in(client, runtime, K)
            page = client.get("/oncall")
            paging = page.text.split('id="paging"')[1].split("</table>")[0]
            assert f"<code>ntfy://{host}/kshama-pager</code>" in paging
            assert f"<code>json://{host}/biswa</code>" in paging
            assert paging.count("email only") == 2  # Aruna Sharma, Disha Kapoor
            assert "at once / 5m" in paging
            assert paging.count("Send me a test") == 1  # on her own row only

            refused = client.post("/oncall/test", data={})  # no CSRF token: nothing sent
            assert refused.status_code == 403 and calls.calls == []

            sent = client.post("/oncall/test", data={"csrf": csrf})
            assert sent.status_code == 200, sent.text
            assert html.escape(f"Test sent to ntfy://{host}/kshama-pager.") in sent.text
            (test,) = _ntfy(calls, "kshama-pager")
            assert test["title"] == "Test from alert-router"
            assert "Kshama Kumar" in test["message"]

            calls.script.append(400)
            failed = client.post("/oncall/test", data={"csrf": csrf})
            assert failed.status_code == 400
            assert "Test not delivered" in failed.text and "error=400" in failed.text
    finally:
        runtime.redis.flushdb()


def test_a_secret_in_a_contact_method_never_shows(tmp_path: Path) -> None:
    def edit(team: dict[str, Any]) -> None:
        team["engineers"][0]["contact_methods"] = ["json://pager:s3cretpass@127.0.0.1:9/k"]

    runtime = build_runtime(
        settings_for(copy_rules(tmp_path / "r", team=edit), tmp_path / "o", db=6)
    )
    runtime.redis.flushdb()
    try:
        with TestClient(create_api(runtime), base_url="https://testserver") as client:
            _signed_in(client, runtime, K)
            page = client.get("/oncall").text
        assert "json://pager:****@127.0.0.1:9/k" in page and "s3cret" not in page
    finally:
        runtime.redis.flushdb()


def test_a_chat_line_refused_for_good_is_on_the_timeline_and_the_next_still_goes(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    _, base = receiver
    with webhook_receiver() as (calls, chat), _stack(tmp_path, base, SUNDAY_3AM, chat) as stack:
        calls.script.append(400)  # the chat refuses its first line
        incident_id = _p1(stack, "refused-line")
        (failed,) = _timeline(stack, incident_id, "chat failed")
        assert failed["change"] == "triggered" and "error=400" in failed["detail"]
        with stack.client() as client:
            assert client.post(f"/v1/incidents/{incident_id}/resolve").status_code == 200
        stack.settle()
        lines = [call["message"].split(" · ")[0] for call in calls.json_calls("/team-chat")]
        assert lines == ["Triggered: paging Kshama Kumar", "Resolved by token 1"]


def test_the_team_chat_hears_when_a_maintenance_window_starts_and_ends(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    with _stack(tmp_path, base, TUESDAY_11AM, chat=True) as stack:
        body = {
            "pipelines": ["growth.aggregate"],
            "start": "2026-12-01T12:00",
            "end": "2026-12-01T13:00",
            "reason": "warehouse upgrade",
        }
        with stack.client() as client:
            answer = client.post("/v1/maintenance", json=body)
        assert answer.status_code == 201, answer.text
        stack.settle()
        assert calls.json_calls("/team-chat") == []  # not on yet
        stack.clock.set(pacific("2026-12-01 12:00"))
        stack.settle()
        stack.send_event({"pipeline": "growth.aggregate", "type": "job_failed", "summary": "x"})
        stack.settle()  # suppressed: no line of its own
        stack.clock.set(pacific("2026-12-01 12:30"))
        stack.settle()  # a tick later: the start is said once
        stack.clock.set(pacific("2026-12-01 13:00"))
        stack.settle()
        window_id = answer.json()["maintenance"]["id"]
        lines = [call["message"].split(" · ")[0] for call in calls.json_calls("/team-chat")]
        assert lines[0] == (
            f"Maintenance window {window_id} on until Tue 13:00 PST: warehouse upgrade. "
            "Aggregate growth page nobody meanwhile, P1s aside."
        )
        # its end, and the incident it kept quiet, decided again (in either order)
        assert sorted(lines[1:]) == [
            f"Maintenance window {window_id} over: warehouse upgrade. It kept 1 "
            "incident(s) quiet; those still triggered are decided again now.",
            "Triggered: paging Biswa Kalyan Rath",
        ]
        assert all(
            call["title"] in ("Maintenance", "[P2] Aggregate growth: x")
            for call in calls.json_calls("/team-chat")
        )


def _ntfy_headers(receiver: WebhookReceiver, topic: str) -> list[dict[str, str]]:
    with receiver.lock:
        calls = list(receiver.calls)
    return [headers for headers, body in calls if json.loads(body).get("topic") == topic]


def test_the_ntfy_push_carries_an_acknowledge_button_that_acts_once(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    calls, base = receiver
    with _stack(tmp_path, base, SUNDAY_3AM) as stack:
        incident_id = _p1(stack, "button")
        (headers,) = _ntfy_headers(calls, "kshama-pager")
        kind, label, url, *options = (part.strip() for part in headers["X-Actions"].split(","))
        assert (kind, label, options) == ("http", "Acknowledge", ["method=POST", "clear=true"])
        public_url = stack.runtime.settings.public_url
        assert url.startswith(f"{public_url}/push/acknowledge?token=")
        path = url.removeprefix(public_url)

        with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as press:
            token = path.split("token=", 1)[1]
            forged = press.post(f"/push/acknowledge?token={token[:-2]}xx")
            assert forged.status_code == 403 and "not valid" in forged.json()["message"]
            incident = stack.runtime.engine.store.get(incident_id)
            assert incident is not None and incident.status == "triggered"

            first = press.post(path)
            assert first.status_code == 200, first.text
            assert first.json()["message"] == f"acknowledged by {K} (push)"
            again = press.post(path)
            assert again.status_code == 200
            assert again.json()["message"] == f"already acknowledged by {K} (push)"
        stack.settle()
        incident = stack.runtime.engine.store.get(incident_id)
        assert incident is not None and incident.acknowledged_by == f"{K} (push)"
        acks = [e for e in stack.runtime.engine.store.timeline(incident_id) if e["kind"] == "event"]
        assert [e["action"] for e in acks].count("acknowledge") == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ntfy://ntfy.example.com/pager", "ntfy://ntfy.example.com/pager?actions=http%2C%20"),
        ("ntfys://ntfy.sh/pager?priority=5", "ntfys://ntfy.sh/pager?priority=5&actions=http%2C"),
        ("json://hooks.example.com/biswa", "json://hooks.example.com/biswa"),  # no buttons
        ("tgram://bot/chat", "tgram://bot/chat"),
    ],
)
def test_only_ntfy_urls_get_the_button(url: str, expected: str) -> None:
    assert with_acknowledge(url, "https://r.example.com/push/acknowledge?token=a.b").startswith(
        expected
    )
