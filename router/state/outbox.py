"""Notices waiting to be sent, kept in Redis with a timer due now.

A notice is written in the same transaction as whatever caused it (a fold, a shift
change): if the process dies right after, the notice is still there, and the scheduler
hands its timer to a worker like an escalation step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict

from router.core.message import OutgoingMessage
from router.state import keys
from router.state.pipe import Pipe
from router.state.timers import notice_member_around, notice_timer, schedule_in

KEEP_S = 7 * 86400


class StoredMessage(BaseModel):
    """A notice in the outbox (report ready, handoff): about no incident."""

    model_config = ConfigDict(frozen=True)

    message: OutgoingMessage


def store(pipe: Pipe, message: OutgoingMessage) -> None:
    """The message alone, for a caller that fires its timer itself (timers.fire_now)."""
    stored = StoredMessage(message=message)
    key = keys.message(message.file_stem())
    pipe.execute_command("SET", key, stored.model_dump_json(), "EX", KEEP_S)


def put(pipe: Pipe, message: OutgoingMessage, now: datetime) -> None:
    """Queue the writes on `pipe` (inside the caller's MULTI)."""
    store(pipe, message)
    schedule_in(pipe, notice_timer(message.file_stem()), now.timestamp())


def put_once(
    client: redis.Redis, marker: str, messages: Sequence[OutgoingMessage], now: datetime
) -> bool:
    """Write the messages and `marker` together, unless the marker is already set."""
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marker)  # type: ignore[no-untyped-call]
                if pipe.exists(marker):
                    return False
                pipe.multi()
                pipe.set(marker, now.isoformat(), ex=30 * 86400)
                for message in messages:
                    put(pipe, message, now)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def hold(pipe: Pipe, message: OutgoingMessage, blockers: list[str]) -> None:
    """Store the message without a timer, held by the incidents `blockers` (inside the
    caller's MULTI); `release` gives it its timer when the last of them resolves."""
    store(pipe, message)
    stem = message.file_stem()
    pipe.sadd(keys.held_by(stem), *blockers)
    pipe.expire(keys.held_by(stem), KEEP_S)
    for incident_id in blockers:
        pipe.sadd(keys.held(incident_id), stem)
        pipe.expire(keys.held(incident_id), KEEP_S)


# For each message the incident held: it no longer does; the last blocker gone, the
# message's timer is due now. One script, so two blockers resolving at once release once.
# ARGV: the incident, now, the held-by key's prefix, and what goes around a stem in its
# timer's member (router.state.timers.notice_member_around).
_RELEASE = """
local released = 0
for _, stem in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local holders = ARGV[3] .. stem
  redis.call('SREM', holders, ARGV[1])
  if redis.call('SCARD', holders) == 0 then
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4] .. stem .. ARGV[5])
    released = released + 1
  end
end
redis.call('DEL', KEYS[1])
return released
"""


def release(client: redis.Redis, incident_id: str, now: datetime) -> int:
    """The messages `incident_id` held, released if nothing else holds them; how many.
    Safe to run again (a retried resolved-notice task does)."""
    found = client.eval(
        _RELEASE,
        2,
        keys.held(incident_id),
        keys.TIMERS,
        incident_id,
        now.timestamp(),
        keys.held_by(""),
        *notice_member_around(),
    )
    return int(found)


def get(client: redis.Redis, stem: str) -> StoredMessage | None:
    raw = client.get(keys.message(stem))
    return StoredMessage.model_validate_json(raw) if raw is not None else None


def discard(pipe: Pipe, stem: str) -> None:
    """The notice is sent or failed for good: queued with its timer's release."""
    pipe.delete(keys.message(stem))
