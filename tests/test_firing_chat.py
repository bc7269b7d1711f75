"""The team chat's lines, decided (router.delivery.firing.chat): pure. Each line from the cursor on
is one send under its own key; a refused one is recorded, a sent one is not."""

from __future__ import annotations

import pytest

from router.core.rules.team import SlackApp
from router.delivery.firing.chat import decide, drained
from router.delivery.firing.plan import Fired
from router.state.sendonce import Delivery, Entry, Record, Written
from router.state.stream import line_for
from tests.test_firing_step import incident, sent

URL = "json://127.0.0.1/team-chat"
SLACK = SlackApp(channel="C0DATAENG")
LINES = [
    line_for(incident(), "triggered", detail="paging Biswa Kalyan Rath"),
    line_for(incident(), "acknowledged", who="kshama"),
]


# (lines already out, the chat URL, the Slack app's channel) -> the sends in brief
# fmt: off
CASES: list[tuple[int, str | None, SlackApp | None, list[tuple[str, ...]]]] = [
    (0, URL, None, [("chat", "triggered", "paging Biswa Kalyan Rath", "inc:chat:0"), ("chat", "acknowledged", "", "inc:chat:1")]),
    (3, URL, None, [("chat", "triggered", "paging Biswa Kalyan Rath", "inc:chat:3"), ("chat", "acknowledged", "", "inc:chat:4")]),
    # the team chat was removed from the rules: each line fails for good, without a try
    (0, None, None, [("refused", "no team chat in team.yaml", "inc:chat:0"), ("refused", "no team chat in team.yaml", "inc:chat:1")]),
    # the Slack app: each line numbered in its stream (the first heads the thread)
    (0, None, SLACK, [("slack", "C0DATAENG", "triggered", "0", "inc:chat:0"), ("slack", "C0DATAENG", "acknowledged", "1", "inc:chat:1")]),
    (3, None, SLACK, [("slack", "C0DATAENG", "triggered", "3", "inc:chat:3"), ("slack", "C0DATAENG", "acknowledged", "4", "inc:chat:4")]),
]
# fmt: on


@pytest.mark.parametrize(("already", "url", "slack", "expected"), CASES)
def test_each_line_after_the_cursor_is_a_send_of_its_own(
    already: int, url: str | None, slack: SlackApp | None, expected: list[tuple[str, ...]]
) -> None:
    assert [sent(s) for s in decide("inc", already, LINES, url, slack)] == expected


def test_a_line_records_only_its_failure() -> None:
    (send, _) = decide("inc", 0, LINES, URL)
    failed = Entry("inc", "chat failed", (("change", "triggered"),))
    assert send.record == Record(sent=Written(), failed=Written((failed,)))


def test_nothing_after_the_cursor_nothing_to_send() -> None:
    assert decide("inc", 2, [], URL) == []


# (the lines' outcomes) -> what the drain did
# fmt: off
DRAINED: list[tuple[list[Delivery], Fired]] = [
    ([], Fired("nothing", "0 chat line(s)")),
    ([Delivery("sent"), Delivery("already sent")], Fired("sent", "2 chat line(s)")),
    ([Delivery("failed", "400"), Delivery("sent")], Fired("sent", "2 chat line(s)")),
    ([Delivery("failed", "400"), Delivery("failed", "400")], Fired("failed", "2 chat line(s)")),
]
# fmt: on


@pytest.mark.parametrize(("outcomes", "expected"), DRAINED)
def test_a_drained_stream(outcomes: list[Delivery], expected: Fired) -> None:
    assert drained(outcomes) == expected
