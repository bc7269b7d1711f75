"""The send-once marker's fenced lease, on the session's real Redis, and the breaker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from router.core.rules import Rules
from router.delivery.breaker import MAX_OPEN_S, Breaker
from router.delivery.mail.backends.smtp import SmtpBackend
from router.delivery.mail.delivery import Mail, Mailer
from router.state import keys
from router.state.sendonce import (
    COMMIT_LEASES,
    Deliveries,
    Delivery,
    Entry,
    Lease,
    LeaseLost,
    Record,
    SendOnce,
    Writes,
    Written,
)
from router.state.store import IncidentStore
from tests.mailservers import SmtpInbox, smtp_server
from tests.redis_server import flushed_db
from tests.stack import free_port, wait_until
from tests.test_backends import MESSAGE

DB = 9
NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    yield from flushed_db(DB)


def _lease(once: SendOnce, key: str) -> Lease:
    lease = once.claim(key)
    assert isinstance(lease, Lease), lease
    return lease


def _record(line: str) -> Writes:
    writes = Writes()
    writes.rpush("timeline", line)
    writes.hincrby("metrics", "sent", 1)
    return writes


def _taken_over(client: redis.Redis, once: SendOnce, key: str) -> Lease:
    """The first holder's lease ran out (as after a pause longer than it) and another
    attempt claimed the send."""
    client.delete(keys.sent(key))  # what the lease's expiry does
    return _lease(once, key)


def test_a_claim_is_exclusive_until_the_outcome_is_written(client: redis.Redis) -> None:
    once = SendOnce(client, lease_s=60)
    lease = _lease(once, "k")
    assert once.claim("k") == Delivery("busy")
    assert lease.finish("sent", _record("first"))
    assert once.claim("k") == Delivery("already sent")
    assert client.lrange("timeline", 0, -1) == [b"first"]
    assert client.hget("metrics", "sent") == b"1"


def test_claims_made_together_are_each_a_claim_and_let_go_only_while_held(
    client: redis.Redis,
) -> None:
    """A fire task claims its emails in one round trip: each key answers as `claim`
    would (a lease, "busy", "already sent"); letting go frees a lease still held, and
    never a marker another attempt holds now or one already written."""
    once = SendOnce(client, lease_s=60)
    _lease(once, "held").finish("sent", Writes())
    held_by_other = _lease(once, "busy")
    fresh, busy, sent, taken = once.claim_many(["fresh", "busy", "held", "taken"])
    assert isinstance(fresh, Lease) and isinstance(taken, Lease)
    assert (busy, sent) == (Delivery("busy"), Delivery("already sent"))
    other = _taken_over(client, once, "taken")
    once.let_go([fresh, taken])
    assert client.get(keys.sent("fresh")) is None  # free: the next attempt sends
    assert client.get(keys.sent("taken")) == other.holder.encode()
    assert client.get(keys.sent("busy")) == held_by_other.holder.encode()
    assert client.get(keys.sent("held")) == b"sent"
    assert isinstance(once.claim("fresh"), Lease)


@pytest.mark.parametrize("state", ["sent", "failed", ""])
def test_a_lost_lease_writes_no_outcome_and_nothing_with_it(
    client: redis.Redis, state: str
) -> None:
    """sent, failed for good, or given up for a retry: a worker that lost its lease (it
    paused past it and another attempt holds the send now) writes none of them."""
    once = SendOnce(client, lease_s=60)
    paused = _lease(once, "k")
    other = _taken_over(client, once, "k")
    assert not paused.finish(state, _record("from the paused worker"))
    assert client.get(keys.sent("k")) == other.holder.encode()  # the holder's, untouched
    assert client.lrange("timeline", 0, -1) == []
    assert client.hget("metrics", "sent") is None
    assert other.finish("sent", _record("from the holder"))
    assert client.lrange("timeline", 0, -1) == [b"from the holder"]


def test_the_fence_holds_the_marker_for_the_commit(client: redis.Redis) -> None:
    """From the fence on the send may have happened: its marker is held for
    COMMIT_LEASES leases, so a worker that stops before writing it is not taken over
    for that long."""
    once = SendOnce(client, lease_s=2)
    lease = _lease(once, "k")
    assert client.pttl(keys.sent("k")) <= 2000
    lease.fence(0.1)
    assert client.pttl(keys.sent("k")) > 2000 * (COMMIT_LEASES - 1)
    assert lease.left_s() > 2 * (COMMIT_LEASES - 1)
    lease.fence(30)  # a send that may take longer: held for twice that
    assert client.pttl(keys.sent("k")) > 30_000


def test_a_second_fence_within_the_commit_hold_asks_redis_nothing(client: redis.Redis) -> None:
    """SMTP fences before its conversation and again before the "." (one round trip
    for both): once extended, only this holder can end the lease, so the second is the
    local clock's check; one for longer than the hold has left asks Redis again."""
    once = SendOnce(client, lease_s=2)
    lease = _lease(once, "k")
    lease.fence(1)
    client.delete(keys.sent("k"))  # were Redis asked, the fence would refuse now
    lease.fence(1)
    with pytest.raises(LeaseLost, match="another attempt"):
        lease.fence(30)


def test_a_sent_outcome_fences_the_next_email_claimed_with_it(client: redis.Redis) -> None:
    """A fire task's emails go one after another: the `sent` of one extends the next
    one's lease for the commit in the same round trip, so that send's own fence asks
    Redis nothing. One already ended, or held by another attempt now, is skipped or
    left alone."""
    once = SendOnce(client, lease_s=2)
    first, second, third, fourth = once.claim_many(["1", "2", "3", "4"])
    assert all(isinstance(each, Lease) for each in (first, second, third, fourth))
    assert isinstance(first, Lease) and isinstance(second, Lease)
    assert isinstance(third, Lease) and isinstance(fourth, Lease)
    assert once.sent(first, _record("one"))
    assert client.pttl(keys.sent("2")) > 2000 * (COMMIT_LEASES - 1)
    assert second.committing and second.left_s() > 2 * (COMMIT_LEASES - 1)
    client.delete(keys.sent("2"))  # were Redis asked, the fence would refuse now
    second.fence(1)
    once.let_go([third])  # the third was not sent after all: the fourth is next
    other = _taken_over(client, once, "4")
    assert not once.sent(second, _record("two"))  # its marker was deleted above
    assert not fourth.committing
    assert client.get(keys.sent("4")) == other.holder.encode()
    assert client.pttl(keys.sent("4")) <= 2000
    assert client.lrange("timeline", 0, -1) == [b"one"]
    assert not first.finish("failed", Writes(), fence_next=True)  # written already


def test_the_fence_refuses_after_the_lease_ran_out_by_the_local_clock(client: redis.Redis) -> None:
    """A pause longer than the lease: nothing in Redis needs to be asked."""
    once = SendOnce(client, lease_s=0.3)
    lease = _lease(once, "k")
    wait_until(lambda: lease.left_s() <= 0, what="the lease to run out")
    with pytest.raises(LeaseLost, match="ran out"):
        lease.fence(0.1)


def test_the_fence_refuses_a_lease_another_attempt_holds(client: redis.Redis) -> None:
    once = SendOnce(client, lease_s=60)
    paused = _lease(once, "k")
    _taken_over(client, once, "k")
    with pytest.raises(LeaseLost, match="another attempt"):
        paused.fence(120)  # longer than is left: it asks Redis, which says no


def test_smtp_hangs_up_before_the_final_dot_when_the_fence_refuses(client: redis.Redis) -> None:
    """Neither the message nor the "." that commits it went: the server drops the
    transaction it had begun, and the connection after it is clean."""
    port = free_port()

    def refuse(needed_s: float) -> None:
        raise LeaseLost("lost")

    with smtp_server(port) as inbox:
        backend = SmtpBackend("127.0.0.1", port, timeout_s=5)
        with pytest.raises(LeaseLost):
            backend.send(MESSAGE, "router@example.com", NOW, fence=refuse)
        assert inbox.messages == []
        backend.send(MESSAGE, "router@example.com", NOW)
        wait_until(lambda: inbox.messages, what="the next message")
        assert len(inbox.messages) == 1
        backend.close()


class _StallingInbox(SmtpInbox):
    """Holds the conversation at RCPT until told to go on: the sending worker is paused
    there, mid-send, as long as the test likes."""

    def __init__(self) -> None:
        super().__init__()
        self.reached, self.go_on = threading.Event(), threading.Event()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.reached.set()
        await asyncio.to_thread(self.go_on.wait, 30)
        envelope.rcpt_tos.append(address)
        return "250 OK"


def _deliveries(client: redis.Redis, rules: Rules) -> Deliveries:
    return Deliveries(client, IncidentStore(client, rules))


def test_a_mailer_paused_past_its_lease_mid_send_sends_and_writes_nothing(
    client: redis.Redis, rules: Rules
) -> None:
    """The worker is held mid-conversation past its lease, and another attempt claims
    the send meanwhile. When it goes on, its fence refuses before the final ".": the
    server gets no message, and the marker, the timeline and the metrics are the new
    holder's alone."""
    inbox, port = _StallingInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        backend = SmtpBackend("127.0.0.1", port, timeout_s=30)
        mailer = Mailer(client, backend, "r@example.com", lease_s=0.5)
        deliveries = _deliveries(client, rules)
        entry = Entry("inc1", "message", (("to", "Kshama Kumar"),))
        record = Record(sent=Written((entry,)), failed=Written((entry,)))
        outcome: list[Delivery] = []
        sending = threading.Thread(
            target=lambda: outcome.append(deliveries.deliver(mailer, Mail(MESSAGE), record, NOW))
        )
        sending.start()
        assert inbox.reached.wait(10)
        marker = keys.sent(MESSAGE.idempotency_key)
        wait_until(lambda: client.get(marker) is None, what="the lease to run out in Redis")
        holder = _lease(mailer.once, MESSAGE.idempotency_key)
        inbox.go_on.set()
        sending.join(30)
        assert outcome == [Delivery("busy", outcome[0].detail)]
        assert "ran out" in outcome[0].detail
        assert inbox.messages == []
        assert client.get(marker) == holder.holder.encode()
        assert client.hgetall(keys.METRICS) == {}
        assert client.llen(keys.timeline("inc1")) == 0
        backend.close()
    finally:
        controller.stop()


class _SilentAfterData(SmtpInbox):
    """Takes the first message, then holds its "250" until told to go on: the sending
    worker stops after the commit, before it can write that the message went."""

    def __init__(self) -> None:
        super().__init__()
        self.reached, self.go_on = threading.Event(), threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if not self.reached.is_set():
            self.reached.set()
            await asyncio.to_thread(self.go_on.wait, 30)
        return answer


def test_a_send_whose_outcome_is_unknown_goes_again_marked(
    client: redis.Redis, rules: Rules
) -> None:
    """A worker commits a message and hears no "250" in time (the server took it, or
    not: nobody can tell). The next attempt sends again (at least once, never silent),
    and that copy says it may be a repeat, with the same Message-ID; the mark ends with
    the outcome it writes. (A worker stopped past the commit's hold, or cut off from
    Redis after the commit, leaves the same mark for the same reason.)"""
    inbox, port = _SilentAfterData(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first_backend = SmtpBackend("127.0.0.1", port, timeout_s=1)
        mailer = Mailer(client, first_backend, "r@example.com", 60)
        deliveries = _deliveries(client, rules)
        unknown = deliveries.deliver(mailer, Mail(MESSAGE), Record(), NOW)
        assert unknown.result == "retry"
        marker, fenced = keys.sent(MESSAGE.idempotency_key), keys.fenced(MESSAGE.idempotency_key)
        assert client.get(marker) is None and client.exists(fenced)
        other_backend = SmtpBackend("127.0.0.1", port, timeout_s=10)
        other_worker = Mailer(client, other_backend, "r@example.com", 60)
        again = deliveries.deliver(other_worker, Mail(MESSAGE), Record(), NOW)
        inbox.go_on.set()
        assert again.result == "sent"
        first, repeat = (message_from_bytes(m) for m in inbox.messages)
        assert first["X-Alert-Router-Possible-Repeat"] is None
        assert repeat["X-Alert-Router-Possible-Repeat"] == "yes"
        assert first["Message-ID"] == repeat["Message-ID"]
        assert client.get(marker) == b"sent" and not client.exists(fenced)
        first_backend.close()
        other_backend.close()
    finally:
        controller.stop()


def test_only_an_attempt_that_passed_its_fence_marks_the_next(client: redis.Redis) -> None:
    """A lease let go or run out before its fence sent nothing: the next claim is plain.
    One that passed its fence and was let go (its task stopped) may have sent: marked,
    until a final outcome is written."""
    once = SendOnce(client, lease_s=60)
    plain = _lease(once, "a")
    once.let_go([plain])
    assert _lease(once, "a").may_repeat is False

    fenced = _lease(once, "b")
    fenced.fence(0.1)
    once.let_go([fenced])
    marked = _lease(once, "b")
    assert marked.may_repeat is True
    once.let_go([marked])  # never fenced, but the send may still have gone before it
    last = _lease(once, "b")
    assert last.may_repeat is True
    last.fence(0.1)
    assert once.sent(last, Writes())
    assert not client.exists(keys.fenced("b"))
    assert once.claim("b") == Delivery("already sent")


def test_a_mailer_holds_emails_while_its_backend_is_down(client: redis.Redis, rules: Rules) -> None:
    """One timeout, then the next emails are held at once, without an attempt, until
    the breaker's time is up; then one probe goes, and a success closes the breaker."""
    port = free_port()
    backend = SmtpBackend("127.0.0.1", port, timeout_s=1)  # nothing listens yet
    mailer = Mailer(client, backend, "r@example.com", 60, Breaker("smtp", first_open_s=5))
    deliveries = _deliveries(client, rules)
    first = deliveries.deliver(mailer, Mail(MESSAGE), Record(), NOW)
    assert first.result == "retry" and not first.held
    second = MESSAGE.model_copy(update={"idempotency_key": "inc2:0:0:Kshama Kumar"})
    held = deliveries.deliver(mailer, Mail(second), Record(), NOW + timedelta(seconds=1))
    assert held.result == "retry" and held.held
    assert held.retry_after_s == pytest.approx(4.0, abs=0.5)
    assert client.get(keys.sent(second.idempotency_key)) is None  # not even claimed
    with smtp_server(port) as inbox:
        sent = deliveries.deliver(mailer, Mail(second), Record(), NOW + timedelta(seconds=5))
        assert sent.result == "sent"
        assert mailer.breaker.open_s(NOW + timedelta(seconds=5)) == 0
        assert len(inbox.messages) == 1
    backend.close()


@pytest.mark.parametrize(
    ("failures", "took_s", "open_s"),
    [
        (1, 0.0, 5.0),
        (2, 0.0, 10.0),
        (3, 0.0, 20.0),
        (4, 0.0, MAX_OPEN_S),
        (9, 0.0, MAX_OPEN_S),
        (1, 5.0, 15.0),  # a 5 s timeout: open three times as long from its start
        (1, 20.0, MAX_OPEN_S),
    ],
)
def test_the_breaker_opens_longer_for_each_failed_probe(
    failures: int, took_s: float, open_s: float
) -> None:
    breaker = Breaker("smtp", first_open_s=5)
    for _ in range(failures):
        breaker.failed(NOW, took_s)
    assert breaker.open_s(NOW) == open_s
    assert breaker.open_s(NOW + timedelta(seconds=open_s)) == 0
    breaker.closed()
    assert breaker.open_s(NOW) == 0
