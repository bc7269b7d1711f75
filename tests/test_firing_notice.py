"""A stored notice's timer, decided (router.delivery.firing.notice): pure."""

from __future__ import annotations

from router.core.message import OutgoingMessage
from router.delivery.firing.notice import decide
from router.delivery.firing.plan import Done, Plan, Release, Send, StoredEmail
from router.state.outbox import StoredMessage
from router.state.sendonce import Record

MESSAGE = OutgoingMessage(
    idempotency_key="notice:evt-1:analyst@example.com",
    kind="report_ready",
    to=["analyst@example.com"],
    subject="November engagement is ready",
    text="t",
    html="h",
)


def test_a_stored_notice_is_sent_once_and_deleted_with_its_timer() -> None:
    stem = MESSAGE.file_stem()
    assert decide(stem, StoredMessage(message=MESSAGE)) == Plan(
        said="report_ready to analyst@example.com",
        sends=(Send(StoredEmail(MESSAGE), MESSAGE.idempotency_key, Record()),),
        discard=stem,
    )


def test_a_notice_gone_from_the_outbox_is_stale() -> None:
    assert decide("0" * 32, None) == Done("stale", "no such message", Release())
