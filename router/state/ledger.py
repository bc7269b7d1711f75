"""The batches the API accepted, kept until folded: what closes kombu's one window.

A worker takes a task with BRPOP, then records it in `unacked` in a second round trip
(kombu's Redis transport). A master lost between the two, with the BRPOP on a replica
and the record not, loses the task: the three-host drill lost a 100-event batch so
about once in ten cuts of the master's host. With ROUTER_REDIS_MIN_REPLICAS, the API
also writes each batch it accepts here, in the same round trip as its LPUSH (so a
replica confirms both), and the worker deletes it once the fold is confirmed, before
the task is acknowledged. The scheduler looks now and then (`requeue_lost`) at those
not seen for a while: one neither on its queue nor in `unacked` was lost in that
window and goes back on its queue. Folding a batch again folds nothing twice (the
`seen` markers), so a batch found in the window while a worker held it is harmless.
"""

from __future__ import annotations

import redis

from router.state.keys import ACCEPTED, ACCEPTED_AT, UNACKED
from router.state.pipe import Pipe

SWEEP_LIMIT = 200
"""Batches looked at per sweep: the oldest."""
SEARCHED_AT_MOST = 2000
"""The longest queue searched for a batch kombu put back, by its delivery tag."""

# Redis's own clock (one clock for every host), in seconds.
_NOW = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

# KEYS: ACCEPTED, ACCEPTED_AT. ARGV: the task id, "queue\ntag\nmessage".
_KEEP = (
    _NOW
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
"""
)

# KEYS: ACCEPTED, ACCEPTED_AT, UNACKED. ARGV: seconds not seen, the limit, the longest
# queue searched by delivery tag. A batch on its queue as the API wrote it is found from
# the tail, where the oldest wait (LPOS with RANK -1). One kombu put back (a rejected or
# timed-out task) was rewritten ("redelivered": true) and is found by its delivery tag;
# a queue longer than that is a backlog, and its batches are looked at again later.
# Returns how many went back.
_REQUEUE = (
    _NOW
    + """
local function queued(queue, message, tag)
  if redis.call('LPOS', queue, message, 'RANK', -1) then return true end
  local length = redis.call('LLEN', queue)
  if length > tonumber(ARGV[3]) then return true end
  for start = 0, length - 1, 100 do
    for _, item in ipairs(redis.call('LRANGE', queue, start, start + 99)) do
      if string.find(item, tag, 1, true) then return true end
    end
  end
  return false
end
local back = 0
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[1]),
                       'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  local kept = redis.call('HGET', KEYS[1], id)
  if not kept then
    redis.call('ZREM', KEYS[2], id)
  else
    local first = string.find(kept, '\\n', 1, true)
    local second = string.find(kept, '\\n', first + 1, true)
    local queue = string.sub(kept, 1, first - 1)
    local tag = string.sub(kept, first + 1, second - 1)
    local message = string.sub(kept, second + 1)
    if redis.call('HEXISTS', KEYS[3], tag) == 0 and not queued(queue, message, tag) then
      redis.call('RPUSH', queue, message)
      back = back + 1
    end
    redis.call('ZADD', KEYS[2], now, id)
  end
end
return back
"""
)


def keep(pipe: Pipe, task_id: str, tag: str, message: bytes, *, queue: str) -> None:
    """A batch accepted: on the caller's pipeline, after its LPUSH."""
    kept = b"%s\n%s\n%s" % (queue.encode(), tag.encode(), message)
    pipe.execute_command("EVAL", _KEEP, 2, ACCEPTED, ACCEPTED_AT, task_id, kept)


def folded(client: redis.Redis, task_id: str) -> None:
    """The batch is folded (and confirmed): nothing left to keep."""
    with client.pipeline(transaction=False) as pipe:
        pipe.hdel(ACCEPTED, task_id)
        pipe.zrem(ACCEPTED_AT, task_id)
        pipe.execute()


def requeue_lost(client: redis.Redis, not_seen_for_s: float) -> int:
    """The kept batches not seen for `not_seen_for_s` (by Redis's clock) that are on no
    queue and that no worker holds, back on their queues' tails; every one looked at
    is seen now. Returns how many went back."""
    found = client.eval(
        _REQUEUE, 3, ACCEPTED, ACCEPTED_AT, UNACKED, not_seen_for_s, SWEEP_LIMIT, SEARCHED_AT_MOST
    )
    return int(found)
