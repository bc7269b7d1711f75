"""Due timers in a Redis sorted set, claimed atomically with a lease.

Escalation waits are not Celery ETA tasks: with the Redis transport a task held past
`visibility_timeout` is delivered again and revokes live only in worker memory. Here a
timer is a member of `ar:timers` scored by its due time. The scheduler moves due members
to `ar:leased` (scored by lease expiry) in one Lua call, so two schedulers never claim
one timer; a worker removes the lease when the timer is handled. A lease that expires
(its worker died) is claimed again.

A member is `kind:incident:round:step`. This module is the only one that writes or reads
that format; a script that builds members gets them from `member_around`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict

from router.queue.tasks import DELIVER_QUEUE, FIRE, FIRE_BATCH
from router.state.keys import ATTEMPTS, LEASED, TIMERS
from router.state.pipe import Pipe
from router.state.publish import publish

TimerKind = Literal[
    "step", "msg", "resolved", "ack_timeout", "action", "push", "chat", "unmute", "digest"
]
MAX_BACKOFF_S = 300.0
_SEP = ":"

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  redis.call('ZADD', KEYS[2], ARGV[2], member)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(expired) do
  redis.call('ZADD', KEYS[2], ARGV[2], member)
  table.insert(due, member)
end
return due
"""

# KEYS: the timer set, the lease set, the failure counts. ARGV: the member, now, the
# first back-off, the least wait, the longest. One call: the timer is in one of the two
# sets throughout. Scores and the wait go out as '%.17g' (Lua's own number format keeps
# 14 digits: a timestamp would lose its fraction).
_BACK_OFF = """
local failures = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
local wait = math.min(tonumber(ARGV[5]), tonumber(ARGV[3]) * 2 ^ (failures - 1))
wait = math.max(tonumber(ARGV[4]), wait)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], string.format('%.17g', tonumber(ARGV[2]) + wait), ARGV[1])
return string.format('%.17g', wait)
"""


def member_around(kind: TimerKind, round_no: int, step: int) -> tuple[str, str]:
    """The member of a timer of this kind, round and step is prefix + incident + suffix:
    for a script that builds the members of incidents it finds (router.state.outbox)."""
    return f"{kind}{_SEP}", f"{_SEP}{round_no}{_SEP}{step}"


class Timer(BaseModel):
    """Work due at some instant: an escalation step of an incident ("step"), a stored
    notice ("msg", `incident` is the message's stem), the resolved notices of an
    incident ("resolved"), its acknowledgement timeout, a runbook action, a step's later
    pushes ("push"), its lines for the team chat ("chat"), the end of a maintenance
    window that suppressed it or held its escalation ("unmute"), or a person's digest of
    pages past their budget ("digest", `incident` is the person's name)."""

    model_config = ConfigDict(frozen=True)

    incident: str
    round: int
    step: int
    kind: TimerKind = "step"

    def member(self) -> str:
        prefix, suffix = member_around(self.kind, self.round, self.step)
        return f"{prefix}{self.incident}{suffix}"

    @classmethod
    def parse(cls, member: str) -> Timer:
        """The inverse of `member`: the incident is what lies between the kind and the
        last two numbers."""
        kind, _, rest = member.partition(_SEP)
        incident, round_no, step = rest.rsplit(_SEP, 2)
        return cls.model_validate(
            {"incident": incident, "round": int(round_no), "step": int(step), "kind": kind}
        )


def notice_timer(stem: str) -> Timer:
    """The timer of a stored notice (router.state.outbox): its stem in place of an incident."""
    return Timer(kind="msg", incident=stem, round=0, step=0)


def notice_member_around() -> tuple[str, str]:
    """What goes around a stem in its notice timer's member (`member_around`)."""
    timer = notice_timer("")
    return member_around(timer.kind, timer.round, timer.step)


def schedule_in(pipe: Pipe, timer: Timer, due_ts: float) -> None:
    schedule_all_in(pipe, {timer: due_ts})


def schedule_all_in(pipe: Pipe, due: Mapping[Timer, float]) -> None:
    """Each timer due at its instant, as one command (a batch of new incidents sets
    several timers each)."""
    if due:
        pipe.zadd(TIMERS, {timer.member(): due_ts for timer, due_ts in due.items()})


def schedule_unless_set_on(pipe: Pipe, timer: Timer, due_ts: float) -> None:
    """Due at `due_ts` unless it is due already (ZADD NX): a timer that gathers work,
    like a person's digest, keeps its first due time."""
    pipe.execute_command("ZADD", TIMERS, "NX", due_ts, timer.member())


def fire_now(pipe: Pipe, timers: list[Timer], now_ts: float, lease_s: float) -> None:
    """Timers due at once skip the scheduler's next tick: they are leased and their fire
    tasks (FIRE_BATCH timers each) queued on `pipe`, the transaction that caused them. If
    a task is lost with its worker, the lease runs out and the scheduler claims the
    timers, as for any timer."""
    members = [timer.member() for timer in timers]
    if not members:
        return
    pipe.zadd(LEASED, dict.fromkeys(members, now_ts + lease_s))
    for start in range(0, len(members), FIRE_BATCH):
        publish(pipe, FIRE, members[start : start + FIRE_BATCH], DELIVER_QUEUE)


def claim_due(client: redis.Redis, now_ts: float, lease_s: float, limit: int = 500) -> list[str]:
    found = client.eval(_CLAIM, 2, TIMERS, LEASED, now_ts, now_ts + lease_s, limit)
    return [m.decode() if isinstance(m, bytes) else str(m) for m in found]


def release_on(pipe: Pipe, member: str) -> None:
    """The timer is done, queued on the caller's transaction (or a send's outcome)."""
    pipe.zrem(LEASED, member)
    pipe.hdel(ATTEMPTS, member)


def reschedule_on(pipe: Pipe, member: str, due_ts: float) -> None:
    """Back from the lease set to the timer set, due at `due_ts`, on the caller's
    transaction (MULTI, or a script: the timer is in one of the two sets throughout)."""
    pipe.zrem(LEASED, member)
    pipe.zadd(TIMERS, {member: due_ts})


def release(client: redis.Redis, member: str) -> None:
    """The timer is done: one MULTI."""
    with client.pipeline() as pipe:
        release_on(pipe, member)
        pipe.execute()


def reschedule(client: redis.Redis, member: str, due_ts: float) -> None:
    """Back from the lease set to the timer set, due at `due_ts`: one MULTI."""
    hand_back(client, [member], due_ts)


def hand_back(client: redis.Redis, members: list[str], due_ts: float) -> None:
    """Back from the lease set to the timer set, due at `due_ts`, for the scheduler to
    hand out (the timers a fire task had no time left for): one MULTI."""
    with client.pipeline() as pipe:
        pipe.zrem(LEASED, *members)
        pipe.zadd(TIMERS, dict.fromkeys(members, due_ts))
        pipe.execute()


def retry_later(
    client: redis.Redis, member: str, now_ts: float, first_s: float, at_least_s: float = 0.0
) -> float:
    """After a transient failure: due again after a doubling back-off (first_s, 2x, 4x, ...
    up to MAX_BACKOFF_S, never less than `at_least_s`); returns the wait. One script."""
    wait = client.eval(
        _BACK_OFF, 3, TIMERS, LEASED, ATTEMPTS, member, now_ts, first_s, at_least_s, MAX_BACKOFF_S
    )
    return float(wait)
