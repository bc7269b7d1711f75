"""Due timers in a Redis sorted set, claimed atomically with a lease.

Escalation waits are not Celery ETA tasks: with the Redis transport a task held past
`visibility_timeout` is delivered again and revokes live only in worker memory. Here a
timer is a member of `ar:timers` scored by its due time. The scheduler moves due members
to `ar:leased` (scored by lease expiry) in one Lua call, so two schedulers never claim
one timer; a worker removes the lease when the timer is handled. A lease that expires
(its worker died) is claimed again.
"""

from __future__ import annotations

from typing import Any

import redis
from pydantic import BaseModel, ConfigDict

TIMERS = "ar:timers"
LEASED = "ar:leased"

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


class Timer(BaseModel):
    """An escalation step of an incident (`kind` "step") due at some instant."""

    model_config = ConfigDict(frozen=True)

    incident: str
    round: int
    step: int
    kind: str = "step"

    def member(self) -> str:
        return f"{self.kind}:{self.incident}:{self.round}:{self.step}"

    @classmethod
    def parse(cls, member: str) -> Timer:
        kind, incident, round_no, step = member.split(":")
        return cls(incident=incident, round=int(round_no), step=int(step), kind=kind)


def schedule_in(pipe: Any, timer: Timer, due_ts: float) -> None:
    pipe.zadd(TIMERS, {timer.member(): due_ts})


def claim_due(client: redis.Redis, now_ts: float, lease_s: float, limit: int = 500) -> list[str]:
    found = client.eval(_CLAIM, 2, TIMERS, LEASED, now_ts, now_ts + lease_s, limit)
    return [m.decode() if isinstance(m, bytes) else str(m) for m in found]


def release(client: redis.Redis, member: str) -> None:
    client.zrem(LEASED, member)
