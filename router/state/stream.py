"""The team chat as a stream: one line per incident change, in order, once each.

A line is written with its change: RPUSHed to the incident's list in the change's own
transaction (a fold, a retrigger), or, for an escalation step that a timer fires, once
under a marker. Its `chat` timer is fired at once; the worker (router.delivery.firing.chat) sends
the lines from the incident's cursor on, one at a time under each line's send-once
marker, and releases the timer only when the cursor has reached the end of the list (one
script): a line written meanwhile is never left behind. Two workers on one incident keep
the order: the second finds the first's marker busy and stops. This module owns the
lines, the cursor and their scripts.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict

from router.core.incidents import Incident
from router.state import keys
from router.state.keys import ATTEMPTS, LEASED
from router.state.pipe import Pipe
from router.state.sendonce import Writes, apply_argv_lua
from router.state.timers import Timer, fire_now

log = logging.getLogger(__name__)

Change = Literal[
    "triggered",
    "triggered again",
    "escalated",
    "acknowledged",
    "resolved",
    "maintenance started",
    "maintenance ended",
]
_KEEP_S = 30 * 86400
_WINDOW = "window-"
"""The stream of a maintenance window's occurrence, beside the incidents' (`window_stream`)."""


class ChatLine(BaseModel):
    """What changed, as it was then: rendered when sent (templates/push/chat.txt)."""

    model_config = ConfigDict(frozen=True)

    incident: str
    change: Change
    who: str = ""
    detail: str = ""
    severity: str
    pipeline: str
    summary: str


def line_for(incident: Incident, change: Change, who: str = "", detail: str = "") -> ChatLine:
    return ChatLine(
        incident=incident.id,
        change=change,
        who=who,
        detail=detail,
        severity=incident.severity,
        pipeline=incident.pipeline,
        summary=incident.summary or incident.type.replace("_", " "),
    )


def opened_line(incident: Incident, zone: tzinfo) -> ChatLine:
    """The first line of an incident that pages: whom, or when quiet hours end."""
    if incident.decision == "defer" and incident.deliver_at is not None:
        at = incident.deliver_at.astimezone(zone).strftime("%a %H:%M %Z")
        return line_for(incident, "triggered", detail=f"quiet hours: pages at {at}")
    names = incident.escalation[0].notify if incident.escalation else []
    return line_for(incident, "triggered", detail=f"paging {', '.join(names)}")


def window_stream(window_id: str, since_ts: float) -> str:
    """The stream id of a maintenance window's occurrence: its lines are the team chat's
    too, but belong to no incident."""
    return f"{_WINDOW}{window_id}-{int(since_ts)}"


def is_window_stream(stream_id: str) -> bool:
    return stream_id.startswith(_WINDOW)


def window_line(stream_id: str, change: Change, text: str) -> ChatLine:
    return ChatLine(incident=stream_id, change=change, severity="", pipeline="", summary=text)


def chat_timer(incident_id: str) -> Timer:
    return Timer(kind="chat", incident=incident_id, round=0, step=0)


def append(pipe: Pipe, line: ChatLine) -> None:
    """Inside the change's MULTI; the caller fires `chat_timer` in the same one."""
    pipe.rpush(keys.chat_lines(line.incident), line.model_dump_json())
    pipe.expire(keys.chat_lines(line.incident), _KEEP_S)


# KEYS[1] the change's marker. ARGV: its lifetime, then the writes (router.state.sendonce).
_ONCE = f"""
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
{apply_argv_lua(2)}
return 1
"""


def append_once(
    client: redis.Redis, line: ChatLine, tag: str, now: datetime, lease_s: float
) -> bool:
    """For a change a timer makes (an escalation step): the line and its timer once,
    however often the timer fires (one script: the marker, the line, its fire task).
    False when the line was written before."""
    writes = Writes()
    append(writes, line)
    fire_now(writes, [chat_timer(line.incident)], now.timestamp(), lease_s)
    marker = keys.chat_once(line.incident, tag)
    return bool(client.eval(_ONCE, 1, marker, _KEEP_S, *writes.argv()))


def pending(client: redis.Redis, incident_id: str) -> tuple[int, list[ChatLine]]:
    """How many of the incident's lines are out, and the lines after those: one read.
    An incident has a line per change, a few: all of them are read."""
    with client.pipeline(transaction=False) as reads:
        reads.get(keys.chat_sent(incident_id))
        reads.lrange(keys.chat_lines(incident_id), 0, -1)
        sent_raw, lines = reads.execute()
    sent = int(sent_raw or 0)
    return sent, [ChatLine.model_validate_json(raw) for raw in lines[sent:]]


def line_key(incident_id: str, number: int) -> str:
    """The idempotency key of the incident's line `number` (from 0)."""
    return f"{incident_id}:chat:{number}"


def advance_on(pipe: Pipe, incident_id: str, number: int) -> None:
    """Line `number` is done (sent, or failed for good): the cursor moves past it, on
    the caller's transaction (or with the line's outcome)."""
    pipe.execute_command("SET", keys.chat_sent(incident_id), number + 1, "EX", _KEEP_S)


# Release the chat timer only if every line is out: a line pushed since is sent first.
_RELEASE_IF_DRAINED = """
local sent = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('LLEN', KEYS[1]) > sent then
  return 0
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"""


def release_if_drained(client: redis.Redis, member: str, incident_id: str) -> bool:
    """Release the chat timer `member` if the cursor is at the end of the lines; False
    when lines came meanwhile (send those first)."""
    released = client.eval(
        _RELEASE_IF_DRAINED,
        4,
        keys.chat_lines(incident_id),
        keys.chat_sent(incident_id),
        LEASED,
        ATTEMPTS,
        member,
    )
    return bool(released)
