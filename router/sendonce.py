"""The marker that makes every send happen once: email, push, chat, webhook.

`ar:sent:{key}` is `sending:{token}` (with a lease) while a worker sends, then "sent" or
"failed" for good. A worker that finds "sending" leaves the send to the lease holder; if
that worker died, the lease runs out and the next attempt sends. One call of a sender is
one attempt: a transient failure deletes the marker and comes back as "retry", and the
caller's timer tries again after a back-off.

A worker can also stop without dying (a GC pause, a VM stall, SIGSTOP) and wake after
its lease ran out and another worker took the send over. So a lease is fenced:

- Its token is in the marker. Every write that ends the attempt (sent, failed, again)
  is one script that first checks the marker still holds that token; a worker that
  lost its lease writes nothing, not even the timeline line or the metrics that go with
  the marker.
- Right before the bytes that commit a send (SMTP's final ".", an HTTP request), the
  backend calls the lease's fence. It refuses at once if the lease ran out by this
  process's monotonic clock (counted from when the claim was sent, so never later than
  Redis's expiry); otherwise one script checks the token in Redis and extends the lease
  to COMMIT_LEASES leases. From there on the send may have happened, so nobody may take
  it over soon: a worker that stops between the commit and its marker (waiting for the
  server's "250 OK" is most of that) and wakes within that longer lease finds its
  marker still its own, and nobody sent the message twice.

What stays open (docs/reliability.md): a worker that stops after the fence for longer
than COMMIT_LEASES leases, after which the next worker sends again (at least once, never
silent); and a worker that dies after the fence, whose message then waits that long.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import redis

from router import keys

log = logging.getLogger(__name__)

Result = Literal["sent", "already sent", "busy", "failed", "retry"]
KEEP_S = 30 * 86400
_SENDING = "sending:"
# The lease as this process counts it is shorter than Redis's by this share: a margin
# for the two clocks' rates.
_LOCAL_SHARE = 0.9
COMMIT_LEASES = 2
"""From the fence on, a send's marker is held for this many leases."""

Counted = Callable[[Any], None]
"""Metrics written with the marker (router.metrics.count), on a `Writes`."""


def _nothing(writes: Any) -> None:
    pass


Recorded = Callable[[Any, "Delivery"], None]
"""What the caller writes with a send's final outcome, with the marker (the incident's
timeline line), on a `Writes`: the marker and its record are never one without the
other."""


def together(counted: Counted, recorded: Recorded | None, delivery: Delivery) -> Counted:
    if recorded is None:
        return counted

    def both(writes: Any) -> None:
        counted(writes)
        recorded(writes, delivery)

    return both


class DeliveryFailed(Exception):
    """What a backend (email or channel) raises: `permanent` is never retried."""

    def __init__(self, message: str, *, permanent: bool, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class LeaseLost(Exception):
    """The send's lease ran out or passed to another worker: send nothing, write nothing."""


Fence = Callable[[float], None]
"""`fence(needed_s)`: called by a backend right before it commits a send that may take
up to `needed_s`; raises LeaseLost if the send may no longer go."""


def unfenced(needed_s: float) -> None:
    """For sends no marker guards (router send-test, a backend's own tests)."""


@dataclass(frozen=True)
class Delivery:
    result: Result
    detail: str = ""
    retry_after_s: float = 0.0  # what the service asked for (SendGrid's 429)
    held: bool = False
    """A retry without an attempt: the backend is known to be down (router.breaker)."""


@dataclass
class Writes:
    """Redis commands as data, applied by the marker's script only while the lease
    holds. The callers' `Counted` and `Recorded` queue on it as on a pipeline."""

    commands: list[tuple[str | int | float, ...]] = field(default_factory=list)

    def rpush(self, key: str, *values: str) -> None:
        self.commands.append(("RPUSH", key, *values))

    def hincrby(self, key: str, name: str, amount: int = 1) -> None:
        self.commands.append(("HINCRBY", key, name, amount))

    def hincrbyfloat(self, key: str, name: str, amount: float) -> None:
        self.commands.append(("HINCRBYFLOAT", key, name, amount))

    def argv(self) -> list[str | int | float]:
        flat: list[str | int | float] = []
        for command in self.commands:
            flat += [len(command), *command]
        return flat


# KEYS[1] the marker. ARGV: the holder's value, the new state ("" deletes the marker),
# its lifetime, then the writes that go with it, each as its length and its words.
_FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
end
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return 1
"""

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class Lease:
    """This attempt's hold on one send."""

    def __init__(self, once: SendOnce, key: str, token: str, asked_at: float) -> None:
        self.once, self.key, self.holder = once, key, f"{_SENDING}{token}"
        self.until = asked_at + once.lease_s * _LOCAL_SHARE

    def left_s(self) -> float:
        return self.until - time.monotonic()

    def fence(self, needed_s: float) -> None:
        """Right before the commit of a send that may take `needed_s`: the lease still
        holds, and is extended to cover the commit and the marker after it."""
        if self.left_s() <= 0:
            raise LeaseLost(f"the lease on {self.key} ran out before the send")
        hold_s = max(COMMIT_LEASES * self.once.lease_s, 2 * needed_s)
        asked_at = time.monotonic()
        renewed = self.once.renew_script(
            keys=[keys.sent(self.key)], args=[self.holder, int(hold_s * 1000)]
        )
        if not renewed:
            raise LeaseLost(f"the lease on {self.key} passed to another attempt")
        self.until = asked_at + hold_s * _LOCAL_SHARE

    def finish(self, state: str, writes: Writes) -> bool:
        """The attempt's outcome and its writes, if this lease still holds the marker."""
        done = self.once.finish_script(
            keys=[keys.sent(self.key)], args=[self.holder, state, KEEP_S, *writes.argv()]
        )
        if not done:
            log.warning("lost the lease on %s: its outcome is not written", self.key)
        return bool(done)


class SendOnce:
    def __init__(self, client: redis.Redis, lease_s: float) -> None:
        self.redis, self.lease_s, self.lease_ms = client, lease_s, int(lease_s * 1000)
        self.finish_script = client.register_script(_FINISH)
        self.renew_script = client.register_script(_RENEW)

    def claim(self, key: str) -> Lease | Delivery:
        """A lease: this attempt may send. Otherwise what another attempt left."""
        marker, token = keys.sent(key), secrets.token_hex(8)
        asked_at = time.monotonic()
        if self.redis.set(marker, f"{_SENDING}{token}", nx=True, px=self.lease_ms):
            return Lease(self, key, token, asked_at)
        state = self.redis.get(marker)
        return Delivery("already sent") if state in (b"sent", b"failed") else Delivery("busy")

    def again(self, lease: Lease, counted: Counted = _nothing) -> None:
        """A transient failure: the next attempt sends."""
        lease.finish("", _written(counted))

    def failed(self, lease: Lease, counted: Counted = _nothing) -> None:
        lease.finish("failed", _written(counted))

    def sent(self, lease: Lease, counted: Counted = _nothing) -> bool:
        """The message is out: if Redis is away right now, keep trying for half a lease
        (while the held marker still holds off everyone else), so that a short outage
        does not make the timer send it again. Past that the error propagates and the
        message may go twice: at least once, never silent. False: the lease was lost
        meanwhile, nothing written."""
        writes = _written(counted)
        deadline = time.monotonic() + min(lease.left_s(), self.lease_s / 2)
        pause_s = 0.1
        while True:
            try:
                return lease.finish("sent", writes)
            except redis.RedisError as error:
                if time.monotonic() + pause_s > deadline:
                    raise
                log.warning("sent, but Redis is away (%s): marking it again", error)
                time.sleep(pause_s)
                pause_s = min(2.0, pause_s * 2)


def _written(counted: Counted) -> Writes:
    writes = Writes()
    counted(writes)
    return writes
