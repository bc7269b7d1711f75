"""An incident's lines for the team chat, in order, from where they stopped
(router.state.stream): each line once, the cursor past it with its outcome; the timer
is released only once the cursor has reached the end of the lines."""

from __future__ import annotations

from datetime import datetime

import redis

from router.core.rules.team import SlackApp
from router.delivery.firing import records
from router.delivery.firing.plan import (
    ChatPost,
    Done,
    Fired,
    Outgoing,
    Plan,
    ReadAhead,
    Refused,
    Release,
    Send,
    SlackLine,
)
from router.delivery.firing.run import Runner
from router.delivery.firing.settle import ENDED, WRITTEN
from router.state import stream
from router.state.sendonce import Delivery, Record, Writes
from router.state.store import IncidentStore
from router.state.stream import ChatLine
from router.state.timers import Timer


def decide(
    incident_id: str,
    sent: int,
    lines: list[ChatLine],
    url: str | None,
    slack: SlackApp | None = None,
) -> list[Send]:
    """The lines after the `sent` first, each to the team stream: the Slack app's channel
    (`slack`) or the apprise chat at `url` (neither: the chat was removed from the rules,
    so each fails for good)."""
    sends = []
    for number, line in enumerate(lines, start=sent):
        key = stream.line_key(incident_id, number)
        what: Outgoing
        if slack is not None:
            what = SlackLine(slack.channel, line, number)
        elif url is not None:
            what = ChatPost(url, line)
        else:
            what = Refused("no team chat in team.yaml")
        record = (
            Record()  # a maintenance window's line: no incident's timeline to write on
            if stream.is_window_stream(incident_id)
            else records.outcome(incident_id, None, "chat failed", change=line.change)
        )
        sends.append(Send(what, key, record))
    return sends


def drained(tried: list[Delivery]) -> Fired:
    """What a drain that reached the end of the lines (and released its timer) did."""
    failed = bool(tried) and all(d.result == "failed" for d in tried)
    return Fired("failed" if failed else "sent" if tried else "nothing", _said(tried))


def _said(tried: list[Delivery]) -> str:
    return f"{len(tried)} chat line(s)"


class ChatHandler:
    def __init__(self, client: redis.Redis, store: IncidentStore, runner: Runner) -> None:
        self.redis, self.store, self.runner = client, store, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        incident_id = timer.incident
        if not stream.is_window_stream(incident_id) and self.store.get(incident_id) is None:
            return self.runner.done(member, Done("stale", "no such incident", Release()))
        team = ahead.rules.team
        tried: list[Send] = []
        outcomes: list[Delivery] = []
        while True:
            sent, lines = stream.pending(self.redis, incident_id)
            for number, send in enumerate(
                decide(incident_id, sent, lines, team.chat, team.slack), start=sent
            ):
                advance = Writes()
                stream.advance_on(advance, incident_id, number)
                delivery = self.runner.send(send, now, *advance.commands)
                tried.append(send)
                outcomes.append(delivery)
                if delivery.result not in ENDED:  # to retry, or another worker's
                    plan = Plan(said=_said(outcomes), sends=tuple(tried))
                    return self.runner.settled(member, plan, outcomes, now)
                if delivery.result not in WRITTEN:  # sent before: the cursor moves here
                    self.runner.write(advance)
            if stream.release_if_drained(self.redis, member, incident_id):
                return drained(outcomes)
