"""Replying to a page email acts: the token the page's References hold, the address it
went to, and the reply's first unquoted line (router.core.replies) as table tests; then
the running router, by SMTP through `router inbound`'s handler (aiosmtpd) and by a
multipart POST shaped as SendGrid's Inbound Parse."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from router.core.replies import ReplyTo, answered, command, reply_token
from router.processes.inbound import inbound_server
from tests.stack import Stack, free_port, running_stack, wait_until
from tests.support import RULES_DIR, pacific

SECRET = b"test-secret-key"
K = "Kshama Kumar"
KSHAMA = "kshama.kumar@example.com"
INBOUND_SECRET = "inbound-secret-0123456789"


def test_a_token_names_its_page_and_only_its_own_signature_holds() -> None:
    page = ReplyTo("inc-1", K)
    token = reply_token(page, SECRET)
    assert answered([f"<root@alert-router> {token}"], SECRET) == page
    assert answered(["", f"<x@y> {token}"], SECRET) == page  # In-Reply-To empty
    assert answered([token], b"another secret") is None
    forged = token.replace("<r.", "<r.A", 1)
    assert answered([forged], SECRET) is None
    assert answered(["<root@alert-router>"], SECRET) is None
    assert answered([], SECRET) is None


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("ack", "acknowledge"),
        ("Ack.\n\nOn Tue, Dec 8, 2026 at 10:00 AM alert-router wrote:\n> resolve", "acknowledge"),
        ("\n\n  ACKNOWLEDGE  \n", "acknowledge"),
        ("resolve\nfixed the schema", "resolve"),
        ("Resolved!", "resolve"),
        ("> ack\nquoted first", None),  # the first line is quoted: nothing
        ("On Tue wrote:\n> ack", None),
        ("looking into it\nack", None),  # only the first line counts
        ("", None),
        ("acknowledgement", None),
    ],
)
def test_the_first_unquoted_line_says_what_to_do(text: str, action: str | None) -> None:
    assert command(text) == action


@pytest.fixture
def tuesday(tmp_path: Path) -> Iterator[Stack]:
    at = pacific("2026-12-08 10:00")
    with running_stack(
        RULES_DIR, tmp_path / "outbox", at, ROUTER_INBOUND_SECRET=INBOUND_SECRET
    ) as stack:
        yield stack


def _page(stack: Stack, dedup_key: str) -> tuple[str, EmailMessage]:
    """A P2 paged to Kshama Kumar (profit.aggregate's primary): its id and its email."""
    stack.send_event(
        {"pipeline": "profit.aggregate", "type": "aggregation_error", "dedup_key": dedup_key}
    )
    incident_id = stack.incident_id(dedup_key)
    stack.settle()

    def found() -> EmailMessage | None:
        for message in stack.emails():
            if message["X-Alert-Router-Kind"] == "page" and incident_id in message.get(
                "X-Alert-Router-Idempotency-Key", ""
            ):
                return message
        return None

    page: EmailMessage = wait_until(found, what="the page")
    return incident_id, page


def _reply(page: EmailMessage, sender: str, text: str, threaded: bool = True) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = "pager@example.com"
    reply["Subject"] = f"Re: {page['Subject']}"
    if threaded:  # as a mail client writes them: the parent's References, then its id
        reply["In-Reply-To"] = page["Message-ID"]
        reply["References"] = f"{page['References']} {page['Message-ID']}"
    reply.set_content(text)
    return reply


def _status(stack: Stack, incident_id: str) -> tuple[str, str | None]:
    incident = stack.runtime.engine.store.get(incident_id)
    assert incident is not None
    return incident.status, incident.acknowledged_by


def test_replying_ack_by_smtp_acknowledges_as_the_recipient(tuesday: Stack) -> None:
    incident_id, page = _page(tuesday, "agg-smtp")
    port = free_port()
    server = inbound_server(tuesday.runtime, "127.0.0.1", port)
    server.start()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            # from another address, or without the page's token: nothing happens
            smtp.send_message(_reply(page, "mallory@example.com", "ack"))
            smtp.send_message(_reply(page, KSHAMA, "ack", threaded=False))
            assert _status(tuesday, incident_id) == ("triggered", None)
            reply = "ack\n\nOn Tue, Dec 8, 2026 Alert Router wrote:\n> resolve"
            smtp.send_message(_reply(page, f"Kshama Kumar <{KSHAMA}>", reply))
            assert _status(tuesday, incident_id) == ("acknowledged", f"{K} (email reply)")
            smtp.send_message(_reply(page, KSHAMA, "ack"))  # again: nothing more
    finally:
        server.stop()
    tuesday.settle()
    timeline = tuesday.runtime.engine.store.timeline(incident_id)
    acks = [e for e in timeline if e["kind"] == "event" and e["action"] == "acknowledge"]
    assert [e["source"] for e in acks] == [f"{K} (email reply)"]


def _sendgrid(
    stack: Stack, page: EmailMessage, sender: str, text: str, password: str
) -> httpx.Response:
    """A POST shaped as SendGrid's Inbound Parse (default, parsed): multipart fields."""
    headers = (
        f"From: {sender}\nTo: pager@example.com\nIn-Reply-To: {page['Message-ID']}\n"
        f"References: {page['References']} {page['Message-ID']}\nSubject: Re: x\n"
    )
    fields = {
        "headers": headers,
        "from": sender,
        "to": "pager@example.com",
        "subject": "Re: x",
        "text": text,
        "envelope": json.dumps({"to": ["pager@example.com"], "from": sender}),
        "charsets": '{"to":"UTF-8","from":"UTF-8","subject":"UTF-8","text":"UTF-8"}',
    }
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
        return client.post(
            "/v1/inbound/sendgrid",
            files={name: (None, value) for name, value in fields.items()},
            auth=("sendgrid", password),
        )


def test_replying_resolve_through_sendgrid_resolves_and_its_basic_auth_guards_it(
    tuesday: Stack,
) -> None:
    incident_id, page = _page(tuesday, "agg-sendgrid")
    refused = _sendgrid(tuesday, page, KSHAMA, "resolve", "wrong")
    assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
    stranger = _sendgrid(tuesday, page, "mallory@example.com", "resolve", INBOUND_SECRET)
    assert stranger.status_code == 200 and stranger.json()["result"] == "ignored"
    assert _status(tuesday, incident_id)[0] == "triggered"
    done = _sendgrid(tuesday, page, KSHAMA, "resolve\n\n> the page", INBOUND_SECRET)
    assert done.status_code == 200, done.text
    assert done.json() == {"result": "resolved", "message": f"resolved by {K} (email reply)"}
    incident = tuesday.runtime.engine.store.get(incident_id)
    assert incident is not None and incident.resolved_by == f"{K} (email reply)"
    again = _sendgrid(tuesday, page, KSHAMA, "resolve", INBOUND_SECRET)
    assert again.json()["result"] == "unchanged"


def test_without_a_secret_the_sendgrid_route_is_off(tmp_path: Path) -> None:
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-12-08 10:00")) as stack:
        with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10) as client:
            answer = client.post("/v1/inbound/sendgrid", auth=("sendgrid", ""), data={"x": "y"})
        assert answer.status_code == 404
