"""An escalation step's timer, decided (router.delivery.firing.due, router.delivery.firing.step): pure, with
fixed instants and the shipped rules (edited where a case needs a chat or push target)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from router.core.escalation import PlannedStep
from router.core.incidents import Incident
from router.core.rules import Rules
from router.delivery.firing import step
from router.delivery.firing.due import DueStep, due_step
from router.delivery.firing.plan import (
    ChatOnce,
    ChatPost,
    Done,
    IncidentEmail,
    Later,
    Leave,
    PagePush,
    Plan,
    Refused,
    Release,
    Send,
    SlackLine,
    StoredEmail,
    WebhookCall,
)
from router.state.metrics import Counted, Lateness
from router.state.sendonce import Entry, Record, Written
from router.state.stream import line_for
from router.state.timers import Timer
from tests.support import edited_rules, pacific

K, A, B, D = "Kshama Kumar", "Aruna Sharma", "Biswa Kalyan Rath", "Disha Kapoor"
AT = pacific("2026-12-01 11:00")  # a Tuesday, business hours
PLAN = [
    PlannedStep(after_s=0, notify=[B], round=0, step=0),
    PlannedStep(after_s=900, notify=[D], round=0, step=1),
    PlannedStep(after_s=1800, notify=[K, A], round=1, step=0),
]


def incident(**changes: Any) -> Incident:
    """A growth.aggregate incident paged at AT with PLAN (no policy: the planned names
    stand, router.core.escalation.recipients_now)."""
    found = Incident(
        id="inc",
        dedup_key="d",
        pipeline="growth.aggregate",
        type="job_failed",
        summary="growth job died",
        severity="P2",
        category=None,
        status="triggered",
        opened_at=AT,
        decision="page",
        deliver_at=AT,
        escalation=PLAN,
    )
    return found.model_copy(update=changes)


def sent(send: Send) -> tuple[str, ...]:
    """A send in brief: what, to whom, under which key."""
    what = send.what
    if isinstance(what, IncidentEmail):
        return ("email", what.kind, what.recipient, send.key)
    if isinstance(what, PagePush):
        return ("push", what.recipient, what.url, what.tone, send.key)
    if isinstance(what, ChatPost):
        return ("chat", what.line.change, what.line.detail, send.key)
    if isinstance(what, StoredEmail):
        return ("stored", what.message.kind, send.key)
    if isinstance(what, WebhookCall):
        return ("webhook", what.action.label, what.by, send.key)
    if isinstance(what, Refused):
        return ("refused", what.detail, send.key)
    if isinstance(what, SlackLine):
        return ("slack", what.channel, what.line.change, str(what.number), send.key)
    return ("action email", what.contact, ", ".join(what.on_it), send.key)


def with_channels(tmp_path: Path, chat: bool = False) -> Rules:
    """Biswa Kalyan Rath pushed at two URLs; the team chat too, with `chat`."""

    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            if person["name"] == B:
                person["contact_methods"] = ["ntfys://ntfy.sh/biswa", "json://127.0.0.1/b"]
        if chat:
            team["chat"] = "json://127.0.0.1/team-chat"

    return edited_rules(tmp_path, team=edit)


def _timer(step_no: int, round_no: int = 0) -> Timer:
    return Timer(incident="inc", round=round_no, step=step_no)


# (what, the incident's changes, the timer's round and step, seconds after AT) -> what is due
# fmt: off
DUE_CASES: list[tuple[str, dict[str, Any] | None, tuple[int, int], float, Done | tuple[int, float]]] = [
    ("gone", None, (0, 0), 0, Done("stale", "no such incident", Release())),
    ("acknowledged", {"status": "acknowledged"}, (0, 1), 900, Done("nothing", "incident acknowledged", Release())),
    ("resolved", {"status": "resolved"}, (0, 0), 0, Done("nothing", "incident resolved", Release())),
    ("never delivered", {"deliver_at": None}, (0, 0), 0, Done("nothing", "incident triggered", Release())),
    ("not in the plan", {}, (0, 5), 0, Done("stale", "step not in plan", Release())),
    ("early by a second", {}, (0, 1), 899, Done("early", "", Leave())),
    ("the first, at once", {}, (0, 0), 0, (0, 0)),
    ("the second, on time", {}, (0, 1), 900, (1, 900)),
    ("the third, late", {}, (1, 0), 2000, (2, 1800)),
]
# fmt: on


@pytest.mark.parametrize(("what", "changes", "timer", "after_s", "expected"), DUE_CASES)
def test_due_step(
    what: str,
    changes: dict[str, Any] | None,
    timer: tuple[int, int],
    after_s: float,
    expected: Done | tuple[int, float],
) -> None:
    found = due_step(
        _timer(timer[1], timer[0]),
        None if changes is None else incident(**changes),
        AT + timedelta(seconds=after_s),
    )
    if isinstance(expected, Done):
        assert found == expected
    else:
        index, due_s = expected
        assert found == DueStep(index, PLAN[index], AT, AT + timedelta(seconds=due_s))


def _decided(
    rules: Rules, changes: dict[str, Any], index: int, after_s: float
) -> tuple[Plan, datetime]:
    found = incident(**changes)
    now = AT + timedelta(seconds=after_s)
    due = due_step(_timer(PLAN[index].step, PLAN[index].round), found, now)
    assert isinstance(due, DueStep)
    return step.decide(due, found, rules, now), now


# (what, incident changes, step index, seconds after AT) -> kind, the sends in brief
# fmt: off
STEP_CASES = [
    ("a page", {}, 0, 0,
     "page", [("email", "page", B, f"inc:0:0:{B}")]),
    ("a page deferred to business hours", {"decision": "defer"}, 0, 0,
     "deferred", [("email", "deferred", B, f"inc:0:0:{B}")]),
    ("late data", {"type": "data_late"}, 0, 0,
     "data_late", [("email", "data_late", B, f"inc:0:0:{B}")]),
    ("the next step", {}, 1, 905,
     "escalation", [("email", "escalation", D, f"inc:0:1:{D}")]),
    ("a step of two people", {}, 2, 1800,
     "escalation", [("email", "escalation", K, f"inc:1:0:{K}"), ("email", "escalation", A, f"inc:1:0:{A}")]),
    ("after an acknowledgement timed out", {"cycle": 2}, 0, 0,
     "page", [("email", "page", B, f"inc:0:0:{B}:again2")]),
]
# fmt: on


@pytest.mark.parametrize(("what", "changes", "index", "after_s", "kind", "sends"), STEP_CASES)
def test_a_step_emails_whom_it_pages(
    rules: Rules,
    what: str,
    changes: dict[str, Any],
    index: int,
    after_s: float,
    kind: str,
    sends: list[tuple[str, ...]],
) -> None:
    plan, _ = _decided(rules, changes, index, after_s)
    assert [sent(s) for s in plan.sends] == sends
    assert all(s.counts for s in plan.sends)
    names = ", ".join(s[2] for s in sends)
    assert plan.said == f"{kind} to {names}"
    late_s = after_s - PLAN[index].after_s
    assert plan.counted == (
        Counted("router_escalation_steps", (("message", kind),)),
        Lateness(late_s),
    )
    assert (plan.then, plan.later, plan.chat, plan.discard) == (Release(), None, None, None)


def test_each_email_records_where_it_went_on_the_timeline(rules: Rules) -> None:
    plan, _ = _decided(rules, {}, 1, 900)
    fields = (
        ("to", D),
        ("email", "disha.kapoor@example.com"),
        ("message", "escalation"),
        ("round", 0),
        ("step", 1),
    )
    assert plan.sends[0].record == Record(
        sent=Written((Entry("inc", "message", fields),)),
        failed=Written((Entry("inc", "message failed", fields),)),
    )


@pytest.mark.parametrize(
    ("index", "cycle", "tag"),
    [
        (0, 0, None),  # the first line is the fold's ("triggered")
        (1, 0, "0:1:0"),
        (2, 0, "1:0:0"),
        (1, 3, "0:1:3"),  # escalating again after an acknowledgement timed out
    ],
)
def test_an_escalation_tells_the_team_chat_once_per_step_and_cycle(
    tmp_path: Path, index: int, cycle: int, tag: str | None
) -> None:
    rules = with_channels(tmp_path, chat=True)
    plan, _ = _decided(rules, {"cycle": cycle}, index, PLAN[index].after_s)
    if tag is None:
        assert plan.chat is None
        return
    names = ", ".join(PLAN[index].notify)
    line = line_for(incident(cycle=cycle), "escalated", detail=f"paging {names}")
    assert plan.chat == ChatOnce(line, tag)


def test_no_team_chat_no_line(rules: Rules) -> None:
    plan, _ = _decided(rules, {}, 1, 900)
    assert plan.chat is None


# (severity, seconds after AT) -> the pushes due now, and the push timer for the rest
# fmt: off
PUSH_CASES = [
    # P1 is high urgency: pushed at once, on both methods
    ("P1", 0, [("push", B, "ntfys://ntfy.sh/biswa", "high", f"inc:0:0:{B}:push0:0"),
               ("push", B, "json://127.0.0.1/b", "high", f"inc:0:0:{B}:push0:1")], None),
    # P2 is low: five minutes after the email, so a push timer for then
    ("P2", 0, [], 300),
    # the step fired late, past its pushes' time: they go with the email
    ("P2", 301, [("push", B, "ntfys://ntfy.sh/biswa", "low", f"inc:0:0:{B}:push0:0"),
                 ("push", B, "json://127.0.0.1/b", "low", f"inc:0:0:{B}:push0:1")], None),
]
# fmt: on


@pytest.mark.parametrize(("severity", "after_s", "pushes", "later_s"), PUSH_CASES)
def test_a_step_pushes_what_is_due_and_leaves_a_timer_for_the_rest(
    tmp_path: Path,
    severity: str,
    after_s: float,
    pushes: list[tuple[str, ...]],
    later_s: float | None,
) -> None:
    plan, _ = _decided(with_channels(tmp_path), {"severity": severity}, 0, after_s)
    assert [sent(s) for s in plan.sends] == [("email", "page", B, f"inc:0:0:{B}"), *pushes]
    assert [s.counts for s in plan.sends] == [True] + [False] * len(pushes)
    if later_s is None:
        assert plan.later is None
    else:
        push = Timer(kind="push", incident="inc", round=0, step=0)
        assert plan.later == Later(push, (AT + timedelta(seconds=later_s)).timestamp())


def test_a_push_records_its_channel_masked(tmp_path: Path) -> None:
    def edit(team: dict[str, Any]) -> None:
        for person in team["engineers"]:
            if person["name"] == B:
                person["contact_methods"] = ["json://pager:s3cret@127.0.0.1/b"]

    rules = edited_rules(tmp_path, team=edit)
    plan, _ = _decided(rules, {"severity": "P1"}, 0, 0)
    push = plan.sends[1]
    fields = (("to", B), ("channel", "json://pager:****@127.0.0.1/b"), ("round", 0), ("step", 0))
    assert push.record == Record(
        sent=Written((Entry("inc", "push", fields),)),
        failed=Written((Entry("inc", "push failed", fields),)),
    )
