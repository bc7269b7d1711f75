"""Timer members: built and read in router.state.timers only, also for the scripts that build
them (router.state.outbox); and which incidents a fire task reads ahead for its timers."""

from __future__ import annotations

import pytest
import redis

from router.config.load import load_rules
from router.delivery.firing import Prepared, read_ahead_ids
from router.delivery.firing.plan import IncidentEmail, ReadAhead
from router.state.sendonce import Delivery, Lease, SendOnce
from router.state.timers import Timer, TimerKind, member_around, notice_member_around, notice_timer
from tests.support import RULES_DIR
from tests.test_firing_step import incident

# fmt: off
CASES: list[tuple[Timer, str]] = [
    (Timer(incident="0af3", round=0, step=0), "step:0af3:0:0"),
    (Timer(kind="push", incident="0af3", round=2, step=11), "push:0af3:2:11"),
    (Timer(kind="action", incident="0af3", round=1, step=0), "action:0af3:1:0"),
    (Timer(kind="ack_timeout", incident="0af3", round=0, step=0), "ack_timeout:0af3:0:0"),
    (notice_timer("c0ffee"), "msg:c0ffee:0:0"),
    (Timer(kind="chat", incident="a:b", round=0, step=0), "chat:a:b:0:0"),  # an id with a colon
]
# fmt: on


@pytest.mark.parametrize(("timer", "member"), CASES)
def test_a_member_reads_back_as_its_timer(timer: Timer, member: str) -> None:
    assert timer.member() == member
    assert Timer.parse(member) == timer
    prefix, suffix = member_around(timer.kind, timer.round, timer.step)
    assert prefix + timer.incident + suffix == member


def test_what_the_outbox_script_puts_around_a_stem_is_a_notice_timer() -> None:
    prefix, suffix = notice_member_around()
    assert Timer.parse(f"{prefix}c0ffee{suffix}") == notice_timer("c0ffee")


@pytest.mark.parametrize("member", ["step:inc:0", "nope", "bogus:inc:0:0", "step:inc:x:0"])
def test_a_member_of_no_timer_is_refused(member: str) -> None:
    with pytest.raises(ValueError):
        Timer.parse(member)


def test_every_kind_round_trips() -> None:
    kinds: list[TimerKind] = ["step", "msg", "resolved", "ack_timeout", "action", "push", "chat"]
    for kind in kinds:
        timer = Timer(kind=kind, incident="i", round=1, step=2)
        assert Timer.parse(timer.member()) == timer


def _timers(*members: str) -> list[Timer]:
    return [Timer.parse(member) for member in members]


# fmt: off
READ_AHEAD: list[tuple[list[Timer], list[str]]] = [
    (_timers("step:b:0:0", "step:a:0:1", "push:a:0:1"), ["a", "b"]),
    # an acknowledgement timeout may retrigger "a": its step is read when it fires
    (_timers("step:a:0:0", "ack_timeout:a:0:0", "step:b:0:0"), ["b"]),
    (_timers("chat:a:0:0", "resolved:b:0:0", "msg:c:0:0", "action:d:1:0"), []),
    ([], []),
]
# fmt: on


@pytest.mark.parametrize(("timers", "ids"), READ_AHEAD)
def test_a_fire_task_reads_ahead_the_incidents_of_its_steps_and_pushes(
    timers: list[Timer], ids: list[str]
) -> None:
    assert read_ahead_ids(timers) == ids


RULES = load_rules(RULES_DIR)


def _lease(key: str) -> Lease:
    return Lease(SendOnce(redis.Redis(), lease_s=60), key, "token", asked_at=0.0)


def _email(recipient: str) -> IncidentEmail:
    return IncidentEmail("page", incident(), recipient, 0)


# The task's emails in order, which of them hold a claim (a lease) not yet taken, the
# send asked about; the recipient of the email the task sends next, if any.
# fmt: off
AFTER: list[tuple[list[str], set[str], str, str | None]] = [
    (["a", "b", "c"], {"b", "c"}, "a", "b"),
    (["a", "b", "c"], {"c"}, "a", "c"),         # b's claim was busy, or is taken already
    (["a", "b", "c"], {"a", "b"}, "c", None),   # the last email
    (["a", "b"], set(), "a", None),             # nothing claimed (the backend is down)
    (["a", "b"], {"a", "b"}, "push:x", "a"),    # a push before the emails
]
# fmt: on


@pytest.mark.parametrize(("emails", "claimed", "key", "then"), AFTER)
def test_the_email_a_fire_task_sends_next_is_the_next_still_claimed(
    emails: list[str], claimed: set[str], key: str, then: str | None
) -> None:
    claims: dict[str, Lease | Delivery] = {each: _lease(each) for each in claimed}
    claims |= {each: Delivery("busy") for each in emails if each not in claimed}
    prepared = Prepared(ReadAhead(RULES, {}), {}, claims, [(e, _email(e)) for e in emails])
    found = prepared.after(key)
    assert (found.recipient if found else None) == then
