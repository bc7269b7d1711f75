"""One contract for every email backend, each against a real receiving end."""

from __future__ import annotations

import email
import email.policy
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from router.core.message import OutgoingMessage
from router.delivery.mail.backends import DeliveryFailed, EmailBackend
from router.delivery.mail.backends.console import ConsoleBackend
from router.delivery.mail.backends.outbox import OutboxBackend
from router.delivery.mail.backends.sendgrid import SendGridBackend
from router.delivery.mail.backends.smtp import SmtpBackend
from router.state.sendonce import LeaseLost
from tests.mailservers import PipeliningInbox, SmtpInbox, sendgrid_server, smtp_server
from tests.stack import free_port, read_outbox, self_signed, wait_until

SENDER = "alert-router@example.com"
NOW = datetime(2026, 11, 26, 11, 10, tzinfo=UTC)
MESSAGE = OutgoingMessage(
    idempotency_key="inc1:0:0:Kshama Kumar",
    kind="page",
    to=["kshama.kumar@example.com"],
    subject="[P1] Aggregate profit: unit-level profit missing — 2026-11-25",
    text="Kshama Kumar, you are paged. Résumé: use the weekly average.\n",
    html="<p>Kshama Kumar, you are <b>paged</b>. Résumé: use the weekly average.</p>",
    thread="inc1",
)


@dataclass
class Received:
    subject: str
    to: list[str]
    text: str
    html: str
    idempotency_key: str


def _from_email(parsed: EmailMessage) -> Received:
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return Received(
        str(parsed["Subject"]),
        [str(parsed["To"])],
        text.get_content(),
        html.get_content(),
        str(parsed["X-Alert-Router-Idempotency-Key"]),
    )


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


Pair = tuple[EmailBackend, Callable[[], list[Received]]]


@pytest.fixture(params=["outbox", "console", "smtp", "smtp-pipelining", "sendgrid"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    kind = request.param
    if kind == "outbox":
        yield (
            OutboxBackend(tmp_path / "out"),
            lambda: [_from_email(m) for m in read_outbox(tmp_path / "out")],
        )
    elif kind == "console":
        stream = io.StringIO()

        def printed() -> list[Received]:
            chunks = stream.getvalue().split("--- email ")[1:]
            return [_from_email(_parse(c.split("\n", 1)[1].encode())) for c in chunks]

        yield ConsoleBackend(stream), printed
    elif kind.startswith("smtp"):
        port = free_port()
        offered = PipeliningInbox() if kind == "smtp-pipelining" else SmtpInbox()
        with smtp_server(port, offered) as inbox:
            yield (
                SmtpBackend("127.0.0.1", port, timeout_s=10),
                lambda: [_from_email(_parse(raw)) for raw in inbox.messages],
            )
    else:
        with sendgrid_server() as (fake, url):

            def posted() -> list[Received]:
                return [
                    Received(
                        r["subject"],
                        [t["email"] for t in r["personalizations"][0]["to"]],
                        r["content"][0]["value"],
                        r["content"][1]["value"],
                        r["custom_args"]["idempotency_key"],
                    )
                    for r in fake.delivered
                ]

            yield SendGridBackend("SG.test", host=url), posted


def test_contract_one_send_is_one_message(backend: Pair) -> None:
    sender, received = backend
    sender.send(MESSAGE, SENDER, NOW)
    (got,) = received()
    assert got.subject == MESSAGE.subject
    assert got.to == MESSAGE.to
    assert got.text.strip() == MESSAGE.text.strip()
    assert got.html.strip() == MESSAGE.html
    assert got.idempotency_key == MESSAGE.idempotency_key


def test_smtp_starttls_with_a_real_server(tmp_path: Path) -> None:
    import ssl

    key, cert = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    port = free_port()
    with smtp_server(port, tls_context=server_tls, require_starttls=True) as inbox:
        client_tls = ssl.create_default_context(cafile=str(cert))
        SmtpBackend("127.0.0.1", port, security="starttls", tls=client_tls).send(
            MESSAGE, SENDER, NOW
        )
        plain = SmtpBackend("127.0.0.1", port, security="none")
        with pytest.raises(DeliveryFailed) as refused:  # the server insists on STARTTLS
            plain.send(MESSAGE, SENDER, NOW)
    assert refused.value.permanent
    (raw,) = inbox.messages
    assert _from_email(_parse(raw)).subject == MESSAGE.subject


def test_smtp_reuses_its_connection_and_replaces_one_the_server_closed() -> None:
    port = free_port()
    backend = SmtpBackend("127.0.0.1", port)
    try:
        with smtp_server(port) as inbox:
            for _ in range(3):
                backend.send(MESSAGE, SENDER, NOW)
            assert len(inbox.messages) == 3 and len(set(inbox.peers)) == 1
        with smtp_server(port) as restarted:  # the old connection is dead now
            backend.send(MESSAGE, SENDER, NOW)
            backend.send(MESSAGE, SENDER, NOW)
        assert len(restarted.messages) == 2 and len(set(restarted.peers)) == 1
        assert restarted.peers[0] != inbox.peers[0]
    finally:
        backend.close()


def test_smtp_pipelined_replies_are_read_in_order_and_refusals_stay_refusals() -> None:
    """With PIPELINING, MAIL, RCPT and DATA go in one write and their replies are read
    after it: a refused recipient among good ones still gets the message to the others,
    every recipient refused is a refusal for good, and the connection goes on sending."""
    port = free_port()
    nobody, alice = "nobody@example.com", MESSAGE.to[0]
    inbox = PipeliningInbox(refused=frozenset({nobody}))
    backend = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port, inbox):
            backend.send(MESSAGE.model_copy(update={"to": [nobody, alice]}), SENDER, NOW)
            with pytest.raises(DeliveryFailed) as refused:
                backend.send(MESSAGE.model_copy(update={"to": [nobody]}), SENDER, NOW)
            backend.send(MESSAGE, SENDER, NOW)
            backend.send(MESSAGE, SENDER, NOW)
    finally:
        backend.close()
    assert refused.value.permanent and nobody in str(refused.value)
    assert inbox.recipients == [[alice], [alice], [alice]]
    assert len(set(inbox.peers[1:])) == 1  # after the refusal, one connection again


def _to(address: str, n: int) -> OutgoingMessage:
    return MESSAGE.model_copy(update={"to": [address], "idempotency_key": f"inc{n}:0:0:x"})


def test_smtp_starts_the_next_message_with_the_end_of_this_one() -> None:
    """A fire task names the email it sends next (`then`): its MAIL, RCPT and DATA go
    in the write of this one's ".", and its replies are read when it is sent. A run of
    messages so goes on one connection, each to its own recipients; a refusal read that
    way is still a refusal for good, and the connection goes on."""
    port = free_port()
    alice, bob, nobody = "alice@example.com", "bob@example.com", "nobody@example.com"
    inbox = PipeliningInbox(refused=frozenset({nobody}))
    backend = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port, inbox):
            backend.send(_to(alice, 1), SENDER, NOW, then=[bob])
            held = backend._connection.client
            assert held is not None and held.ahead == (SENDER, (bob,))  # begun, unread
            backend.send(_to(bob, 2), SENDER, NOW, then=[nobody])
            with pytest.raises(DeliveryFailed) as refused:
                backend.send(_to(nobody, 3), SENDER, NOW, then=[alice])
            backend.send(_to(alice, 4), SENDER, NOW, then=[bob])
            backend.send(_to(bob, 5), SENDER, NOW)
    finally:
        backend.close()
    assert refused.value.permanent and nobody in str(refused.value)
    assert inbox.recipients == [[alice], [bob], [alice], [bob]]
    keys = [_parse(raw)["X-Alert-Router-Idempotency-Key"] for raw in inbox.messages]
    assert keys == ["inc1:0:0:x", "inc2:0:0:x", "inc4:0:0:x", "inc5:0:0:x"]
    assert len(set(inbox.peers[:2])) == 1 and len(set(inbox.peers[2:])) == 1


@pytest.mark.parametrize("instead", ["another message", "a refused fence"])
def test_smtp_hangs_up_on_a_message_begun_ahead_that_does_not_go(instead: str) -> None:
    """The email named next is not the one sent (its claim was lost, the task stopped)
    or its fence refuses: the server never gets the "." of what was begun ahead, so it
    delivers nothing for it, and the next message goes on a fresh connection."""
    port = free_port()
    alice, bob, carol = "alice@example.com", "bob@example.com", "carol@example.com"

    def refuse(needed_s: float) -> None:
        raise LeaseLost("lost")

    inbox = PipeliningInbox()
    backend = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port, inbox):
            backend.send(_to(alice, 1), SENDER, NOW, then=[bob])
            if instead == "another message":
                backend.send(_to(carol, 2), SENDER, NOW)
            else:
                with pytest.raises(LeaseLost):
                    backend.send(_to(bob, 2), SENDER, NOW, fence=refuse)
                backend.send(_to(carol, 3), SENDER, NOW)
            wait_until(lambda: len(inbox.messages) == 2, what="the second message")
    finally:
        backend.close()
    assert inbox.recipients == [[alice], [carol]]
    assert inbox.peers[0] != inbox.peers[1]


# -- SendGrid's behaviour on errors ---------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "requests"),
    [
        ([], 1),
        ([(429, {"X-RateLimit-Reset": "NOW+2"})], 2),
        ([(500, {}), (500, {})], 3),
        ([(503, {}), (502, {}), (504, {})], 4),
    ],
)
def test_sendgrid_one_attempt_a_call_until_one_delivery(
    script: list[tuple[int, dict[str, str]]], requests: int
) -> None:
    """Each call is one request; a transient error says so (and how long SendGrid asked to
    wait), and the caller's timer calls again."""
    with sendgrid_server() as (fake, url):
        fake.script = [
            (s, {k: v.replace("NOW+2", str(int(time.time()) + 2)) for k, v in h.items()})
            for s, h in script
        ]
        backend = SendGridBackend("SG.test", host=url)
        waits = []
        for _ in range(requests):
            try:
                backend.send(MESSAGE, SENDER, NOW)
                break
            except DeliveryFailed as error:
                assert not error.permanent
                waits.append(error.retry_after_s)
        assert len(fake.requests) == requests
    assert len(fake.delivered) == 1
    if script and script[0][0] == 429:
        assert 0.9 <= waits[0] <= 2.0  # it asks to wait for X-RateLimit-Reset
    body = fake.delivered[0]
    assert body["custom_args"]["idempotency_key"] == "inc1:0:0:Kshama Kumar"
    assert body["categories"] == ["alert-router", "page"]
    assert body["headers"]["References"] == MESSAGE.thread_headers()["References"]
    assert fake.headers[0]["Authorization"] == "Bearer SG.test"


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_sendgrid_does_not_retry_what_will_never_work(status: int) -> None:
    with sendgrid_server() as (fake, url):
        fake.script = [(status, {})]
        with pytest.raises(DeliveryFailed) as failed:
            SendGridBackend("SG.test", host=url).send(MESSAGE, SENDER, NOW)
    assert failed.value.permanent and f"SendGrid {status}" in str(failed.value)
    assert len(fake.requests) == 1


def test_sendgrid_network_errors_are_transient() -> None:
    port = free_port()  # nothing listens here
    backend = SendGridBackend("SG.test", host=f"http://127.0.0.1:{port}", timeout_s=2)
    with pytest.raises(DeliveryFailed) as failed:
        backend.send(MESSAGE, SENDER, NOW)
    assert not failed.value.permanent and "network" in str(failed.value)


def test_sendgrid_sandbox_mode() -> None:
    with sendgrid_server() as (fake, url):
        SendGridBackend("SG.test", host=url, sandbox=True).send(MESSAGE, SENDER, NOW)
    assert fake.requests[0]["mail_settings"] == {"sandbox_mode": {"enable": True}}


_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from tests.test_backends import MESSAGE, NOW, SENDER
from router.delivery.mail.backends.outbox import OutboxBackend

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # a disk with 4 KB free, a file
big = MESSAGE.model_copy(update={"text": "x" * 200_000})
try:
    OutboxBackend(Path(sys.argv[1])).send(big, SENDER, NOW)
except OSError as error:
    print("failed:", error.errno)
"""


def test_a_failed_outbox_write_leaves_no_temp_file(tmp_path: Path) -> None:
    """A real failure: the write runs into the file size limit (RLIMIT_FSIZE), as on a
    full disk; the error still reaches the caller (so the timer retries)."""
    import errno
    import subprocess
    import sys

    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(out)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"failed: {errno.EFBIG}"
    assert list(out.iterdir()) == []  # no .tmp, no half .eml
    OutboxBackend(out).send(MESSAGE, SENDER, NOW)  # and the next write still works
    assert [p.suffix for p in out.iterdir()] == [".eml"]


def test_contract_a_refused_fence_sends_nothing(backend: Pair) -> None:
    """A worker whose lease is gone (router.state.sendonce) hears it at the fence, right before
    the send's commit: nothing arrives, and the backend sends the next message as ever."""
    sender, received = backend
    asked: list[float] = []

    def refused(needed_s: float) -> None:
        asked.append(needed_s)
        raise LeaseLost("the lease passed to another attempt")

    with pytest.raises(LeaseLost):
        sender.send(MESSAGE, SENDER, NOW, fence=refused)
    assert received() == [] and len(asked) == 1 and asked[0] > 0
    sender.send(MESSAGE, SENDER, NOW)
    assert [got.idempotency_key for got in received()] == [MESSAGE.idempotency_key]
