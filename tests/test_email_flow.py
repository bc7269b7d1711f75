"""Email in the running router: act from the message, failures recorded, notices sent."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from router.delivery.mail.backends.sendgrid import SendGridBackend
from tests.mailservers import sendgrid_server
from tests.stack import Stack, html_of, running_stack, text_of, wait_until
from tests.support import pacific

B, D = "biswa.rath@example.com", "disha.kapoor@example.com"
CHART = {
    "pipeline": "growth.aggregate",
    "type": "chart_broken",
    "summary": "Chart 3 of the growth report is blank",
}


def _only_incident(stack: Stack) -> dict[str, Any]:
    with stack.client() as client:
        (incident,) = client.get("/v1/incidents").json()["incidents"]
        return dict(incident)


def _link(text: str, action: str) -> str:
    found = re.search(rf"(https?://\S+/email/{action}\?token=\S+)", text)
    assert found, f"no {action} link in the email"
    return found.group(1)


def test_acknowledge_from_the_email(tuesday: Stack) -> None:
    tuesday.send_event(CHART)
    (page,) = wait_until(lambda: tuesday.emails(), what="the page")
    link = _link(text_of(page), "acknowledge")
    assert link in html_of(page).replace("&amp;", "&")
    path = link.split("/", 3)[3]  # the link names ROUTER_PUBLIC_URL; the test's server differs
    with httpx.Client(base_url=tuesday.url, verify=tuesday.tls) as browser:
        shown = browser.get(f"/{path}")
        assert shown.status_code == 200 and "Acknowledge this incident?" in shown.text
        assert _only_incident(tuesday)["status"] == "triggered"  # a GET changes nothing
        token = re.search(r'name="token" value="([^"]+)"', shown.text)
        assert token
        done = browser.post("/email/acknowledge", data={"token": token.group(1)})
        assert done.status_code == 200 and "Escalation has stopped" in done.text
        incident = _only_incident(tuesday)
        assert incident["status"] == "acknowledged"
        assert incident["acknowledged_by"] == "Biswa Kalyan Rath (email link)"
        again = browser.get(f"/{path}")
        assert "Already acknowledged" in again.text and "Biswa Kalyan Rath" in again.text
    tuesday.clock.advance(timedelta(minutes=5))  # every later step is due now
    tuesday.settle()
    # only the acknowledgement's timeout is left (P2: 4 hours, routing.yaml)
    assert tuesday.redis.zrange("ar:timers", 0, -1) == [
        f"ack_timeout:{incident['id']}:0:0".encode()
    ]
    assert tuesday.recipients() == [B]  # nobody else was emailed


def test_tampered_and_expired_links_are_refused(tuesday: Stack) -> None:
    tuesday.send_event(CHART)
    (page,) = wait_until(lambda: tuesday.emails(), what="the page")
    token = _link(text_of(page), "acknowledge").split("token=")[1]
    tampered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    with httpx.Client(base_url=tuesday.url, verify=tuesday.tls) as browser:
        for method in ("get", "post"):
            kwargs: dict[str, Any] = (
                {"params": {"token": tampered}}
                if method == "get"
                else {"data": {"token": tampered}}
            )
            answer = getattr(browser, method)("/email/acknowledge", **kwargs)
            assert answer.status_code == 400 and "not valid" in answer.text
        wrong_action = browser.get("/email/resolve", params={"token": token})
        assert wrong_action.status_code == 400
        tuesday.clock.advance(timedelta(days=8))  # links live 7 days
        expired = browser.post("/email/acknowledge", data={"token": token})
        assert expired.status_code == 410 and "expired" in expired.text
    assert _only_incident(tuesday)["status"] == "triggered"


def test_resolved_notice_goes_to_everyone_paged(tuesday: Stack) -> None:
    with tuesday.client() as client:
        assert client.post("/v1/events", json=CHART).status_code == 202
        wait_until(lambda: tuesday.recipients() == [B], what="the page")
        tuesday.clock.advance(timedelta(seconds=2))
        wait_until(lambda: tuesday.recipients() == sorted([B, D]), what="the escalation")
        incident = _only_incident(tuesday)
        assert client.post(f"/v1/incidents/{incident['id']}/resolve").status_code == 200
    wait_until(lambda: len(tuesday.emails()) == 4, what="two resolved notices")
    resolved = [m for m in tuesday.emails() if "Resolved at" in text_of(m)]
    assert sorted(str(m["To"]) for m in resolved) == sorted([B, D])
    root = tuesday.emails()[0]["In-Reply-To"]  # one thread: References start with its root
    assert all(m["In-Reply-To"] == root for m in tuesday.emails())
    assert all(m["References"].split()[0] == root for m in tuesday.emails())


def test_handoff_emails_at_the_shift_change(rules_dir: Path, tmp_path: Path) -> None:
    # Thanksgiving period: Disha Kapoor hands over to Kshama Kumar on Fri 27 Nov at 09:00.
    with running_stack(rules_dir, tmp_path / "outbox", pacific("2026-11-27 08:59")) as stack:
        stack.clock.advance(timedelta(seconds=30))
        stack.settle()
        assert stack.emails() == []
        stack.clock.set(pacific("2026-11-27 09:00:01"))
        wait_until(lambda: len(stack.emails()) == 2, what="two handoff emails")
        stack.clock.advance(timedelta(minutes=5))
        stack.settle()
        assert sorted(stack.recipients()) == [D, "kshama.kumar@example.com"]
        incoming = next(m for m in stack.emails() if m["To"] == "kshama.kumar@example.com")
        assert (
            "you are on call from Fri 2026-11-27 09:00 PST until Sun 2026-11-29 09:00 PST"
            in text_of(incoming)
        )


def test_a_sendgrid_400_is_recorded_and_escalation_goes_on(rules_dir: Path, tmp_path: Path) -> None:
    with sendgrid_server() as (fake, url):
        fake.script = [(400, {})]  # the first message is refused for good
        backend = SendGridBackend("SG.test", host=url)
        with running_stack(
            rules_dir, tmp_path / "outbox", pacific("2026-11-24 10:00"), backend
        ) as stack:
            stack.send_event(CHART)
            incident = wait_until(
                lambda: _timeline_has(stack, "message failed"), what="the failure on the timeline"
            )
            failed = next(e for e in incident if e["kind"] == "message failed")
            assert failed["to"] == "Biswa Kalyan Rath" and "SendGrid 400" in failed["detail"]
            stack.clock.advance(timedelta(seconds=2))
            wait_until(lambda: len(fake.delivered) == 1, what="the escalation to be sent")
            assert fake.delivered[0]["personalizations"][0]["to"] == [{"email": D}]
            assert len(fake.requests) == 2  # the 400 was not retried


def _timeline_has(stack: Stack, kind: str) -> list[dict[str, Any]] | None:
    with stack.client() as client:
        incidents = client.get("/v1/incidents").json()["incidents"]
        if not incidents:
            return None
        timeline: list[dict[str, Any]] = client.get(f"/v1/incidents/{incidents[0]['id']}").json()[
            "timeline"
        ]
        return timeline if any(e["kind"] == kind for e in timeline) else None


def test_a_notice_that_fails_for_now_is_sent_later(rules_dir: Path, tmp_path: Path) -> None:
    with sendgrid_server() as (fake, url):
        fake.script = [(503, {})]  # SendGrid is down for the first try
        backend = SendGridBackend("SG.test", host=url)
        with running_stack(
            rules_dir, tmp_path / "outbox", pacific("2026-11-25 03:00"), backend
        ) as stack:
            stack.send_event(
                {
                    "pipeline": "engagement.aggregate",
                    "type": "report_ready",
                    "summary": "November engagement",
                }
            )
            wait_until(lambda: fake.requests, what="the first attempt")
            assert fake.delivered == []
            stack.settle()
            assert fake.delivered == []  # the timer waits out its back-off (5 s)
            stack.clock.advance(timedelta(seconds=5))
            wait_until(lambda: fake.delivered, what="the retry")
            stack.clock.advance(timedelta(minutes=10))
            stack.settle()
            assert len(fake.delivered) == 1
            assert fake.delivered[0]["personalizations"][0]["to"] == [
                {"email": "analyst@example.com"}
            ]
