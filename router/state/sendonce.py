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

One flow for every channel (`Deliveries.deliver`): email (router.delivery.mail.delivery),
push and chat (router.delivery.channels.delivery) and webhooks (router.delivery.webhooks)
are each a `Channel`,
the part that differs (the backend call, the breaker, the attempts a push gets); what a
final outcome writes beside its marker (the timeline line, metrics, a fired timer's
release) comes with the send as data, a `Record`.

What stays open (docs/reliability.md): a worker that stops after the fence for longer
than COMMIT_LEASES leases, after which the next worker sends again (at least once, never
silent); and a worker that dies after the fence, whose message then waits that long.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, Self, TypeVar

import redis

from router.state import keys, metrics
from router.state.pipe import Pipe, Value
from router.state.replication import NO_REPLICAS, Replicas, shortfall

log = logging.getLogger(__name__)

Result = Literal["sent", "already sent", "busy", "failed", "retry"]
KEEP_S = 30 * 86400
_SENDING = "sending:"
# The lease as this process counts it is shorter than Redis's by this share: a margin
# for the two clocks' rates.
_LOCAL_SHARE = 0.9
COMMIT_LEASES = 2
"""From the fence on, a send's marker is held for this many leases."""


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
    """A retry without an attempt: the backend is known to be down (router.delivery.breaker)."""


Command = tuple[Value, ...]


@dataclass
class Writes:
    """Redis commands as data, applied by a script (the marker's, only while the lease
    holds) or on a pipeline. A `Pipe`: code that writes queues on it as on a MULTI."""

    commands: list[Command] = field(default_factory=list)

    def execute_command(self, *args: Value) -> object:
        self.commands.append(args)
        return None

    def rpush(self, name: str, *values: Value) -> object:
        return self.execute_command("RPUSH", name, *values)

    def lpush(self, name: str, *values: Value) -> object:
        return self.execute_command("LPUSH", name, *values)

    def ltrim(self, name: str, start: int, end: int) -> object:
        return self.execute_command("LTRIM", name, start, end)

    def hset(
        self,
        name: str,
        key: str | None = None,
        value: Value | None = None,
        *,
        items: Sequence[Value] | None = None,
    ) -> object:
        pairs = [] if key is None or value is None else [key, value]
        return self.execute_command("HSET", name, *pairs, *(items or ()))

    def incr(self, name: str, amount: int = 1) -> object:
        return self.execute_command("INCRBY", name, amount)

    def hdel(self, name: str, *keys: str) -> object:
        return self.execute_command("HDEL", name, *keys)

    def hincrby(self, name: str, key: str, amount: int = 1) -> object:
        return self.execute_command("HINCRBY", name, key, amount)

    def hincrbyfloat(self, name: str, key: str, amount: float = 1.0) -> object:
        return self.execute_command("HINCRBYFLOAT", name, key, amount)

    def zadd(self, name: str, mapping: Mapping[str, float]) -> object:
        scored = [word for member, score in mapping.items() for word in (score, member)]
        return self.execute_command("ZADD", name, *scored)

    def zrem(self, name: str, *values: str) -> object:
        return self.execute_command("ZREM", name, *values)

    def sadd(self, name: str, *values: Value) -> object:
        return self.execute_command("SADD", name, *values)

    def delete(self, *names: str) -> object:
        return self.execute_command("DEL", *names)

    def expire(self, name: str, time: int) -> object:
        return self.execute_command("EXPIRE", name, time)

    def extend(self, commands: tuple[Command, ...]) -> None:
        self.commands.extend(commands)

    def argv(self) -> list[Value]:
        flat: list[Value] = []
        for command in self.commands:
            flat += [len(command), *command]
        return flat

    def apply(self, pipe: Pipe) -> None:
        """The commands on a pipeline or MULTI, for writes that need no marker."""
        for command in self.commands:
            pipe.execute_command(*command)


def apply_argv_lua(first: int) -> str:
    """The Lua that applies a `Writes.argv()` passed from ARGV[first] on."""
    return f"""local i = {first}
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end"""


# KEYS[1] the marker, KEYS[2] the next send's (fenced on the way: Lease.finish), KEYS[3]
# and KEYS[4] their `keys.fenced`. ARGV: the holder's value, the new state ("" deletes
# the marker), its lifetime, the next send's holder ("": none) and its hold in ms, then
# the writes that go with the outcome, each as its length and its words. Returns
# {outcome written, next fenced}. A final outcome ends the fenced mark; a marker let go
# ("") keeps it: a send that may have gone is still not known to have.
_FINISH = f"""
local fenced = 0
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[3])
  fenced = 1
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {{0, fenced}} end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  redis.call('DEL', KEYS[3])
end
{apply_argv_lua(6)}
return {{1, fenced}}
"""

# KEYS[1] the marker, KEYS[2] its `keys.fenced`; ARGV: the holder, the hold in ms, the
# fenced mark's lifetime in s.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
return 1
"""


def _finish_keys(key: str, following: str | None = None) -> list[str]:
    after = following if following is not None else key
    return [keys.sent(key), keys.sent(after), keys.fenced(key), keys.fenced(after)]


class Lease:
    """This attempt's hold on one send. `claimed_with`: the leases claimed together with
    it (SendOnce.claim_many, a fire task's emails), in the order they are to be sent."""

    def __init__(
        self,
        once: SendOnce,
        key: str,
        token: str,
        asked_at: float,
        claimed_with: list[Lease] | None = None,
        may_repeat: bool = False,
    ) -> None:
        """`may_repeat`: an attempt before this one passed its fence and never wrote its
        outcome (it stopped, or lost Redis, after the commit): the send may have gone."""
        self.once, self.key, self.holder = once, key, f"{_SENDING}{token}"
        self.may_repeat = may_repeat
        self.until = asked_at + once.lease_s * _LOCAL_SHARE
        self.committing = False
        self.ended = False
        self.claimed_with = claimed_with if claimed_with is not None else [self]

    def left_s(self) -> float:
        return self.until - time.monotonic()

    def fence(self, needed_s: float) -> None:
        """Right before the commit of a send that may take `needed_s`: the lease still
        holds, and is extended to cover the commit and the marker after it. Once it is
        extended, a later call within it checks the local clock only: a backend may fence
        ahead of its conversation (router.delivery.mail.backends.smtp), then right before
        the commit, without a second round trip; and the send before it in its claim may
        have extended it already, with its own outcome (`finish`)."""
        if self.left_s() <= 0:
            raise LeaseLost(f"the lease on {self.key} ran out before the send")
        if self.committing and self.left_s() > needed_s:
            return  # only this holder can end a lease so extended: the marker is ours
        hold_s = max(COMMIT_LEASES * self.once.lease_s, 2 * needed_s)
        asked_at = time.monotonic()
        renewed = self.once.renew(self.key, self.holder, int(hold_s * 1000))
        if not renewed:
            raise LeaseLost(f"the lease on {self.key} passed to another attempt")
        self._extended(asked_at, hold_s)

    def _extended(self, asked_at: float, hold_s: float) -> None:
        self.until = asked_at + hold_s * _LOCAL_SHARE
        self.committing = True

    def next_to_fence(self) -> Lease | None:
        """The send claimed right after this one, if it is still to be fenced: a fire
        task's emails go one after another, so the outcome of one fences the next in the
        same round trip, and the next send's own fence is the local clock's alone."""
        after = self.claimed_with[self.claimed_with.index(self) + 1 :]
        for lease in after:
            if not lease.ended:
                return None if lease.committing or lease.left_s() <= 0 else lease
        return None

    def finish(self, state: str, writes: Writes, fence_next: bool = False) -> bool:
        """The attempt's outcome and its writes, if this lease still holds the marker;
        with `fence_next`, the next send of the claim fenced on the way."""
        following = self.next_to_fence() if fence_next else None
        hold_s = COMMIT_LEASES * self.once.lease_s
        asked_at = time.monotonic()
        script_keys = _finish_keys(self.key, following.key if following else None)
        args = [
            self.holder,
            state,
            KEEP_S,
            following.holder if following else "",
            int(hold_s * 1000),
            *writes.argv(),
        ]
        required, wait_ms = self.once.replicas.required, self.once.replicas.wait_ms
        if following is None or not required:
            done, fenced = self.once.finish_script(keys=script_keys, args=args)
        else:
            # the next send's fence, like its own (SendOnce.renew), must be on a replica
            # before it commits: a failover then finds that send under way
            with self.once.redis.pipeline(transaction=False) as pipe:
                self.once.finish_script(keys=script_keys, args=args, client=pipe)
                pipe.execute_command("WAIT", required, wait_ms)  # type: ignore[no-untyped-call]
                (done, fenced), confirmed = pipe.execute()
            if shortfall(confirmed, required, wait_ms) is not None:
                fenced = 0  # not confirmed: the next send fences itself, and waits for it
        self.ended = True
        if following is not None and fenced:
            following._extended(asked_at, hold_s)
        if not done:
            log.warning("lost the lease on %s: its outcome is not written", self.key)
        return bool(done)


class SendOnce:
    def __init__(
        self, client: redis.Redis, lease_s: float, replicas: Replicas = NO_REPLICAS
    ) -> None:
        """`replicas`: how many must hold a fenced lease before the send commits."""
        self.redis, self.lease_s, self.lease_ms = client, lease_s, int(lease_s * 1000)
        self.replicas = replicas
        self.finish_script = client.register_script(_FINISH)
        self.renew_script = client.register_script(_RENEW)

    def renew(self, key: str, holder: str, hold_ms: int) -> bool:
        """The fence's extension of a lease, if `holder` still holds it; with replicas
        required, only once they hold it too (a WAIT on the same connection): a
        failover then finds the send under way, not a send nobody took, which the new
        master's timers would send again at once. Fewer confirm in time: the lease is
        let go and LeaseLost says so, so nothing is sent and the next attempt may."""
        required, wait_ms = self.replicas.required, self.replicas.wait_ms
        with self.redis.pipeline(transaction=False) as pipe:
            self.renew_script(
                keys=[keys.sent(key), keys.fenced(key)], args=[holder, hold_ms, KEEP_S], client=pipe
            )
            if required:
                pipe.execute_command("WAIT", required, wait_ms)  # type: ignore[no-untyped-call]
            replies = pipe.execute()
        short = shortfall(replies[1], required, wait_ms) if required and replies[0] else None
        if short is not None:
            self.finish_script(keys=_finish_keys(key), args=[holder, "", KEEP_S, "", 0])
            raise LeaseLost(f"the lease on {key} is on no replica yet ({short})")
        return bool(replies[0])

    def claim(self, key: str) -> Lease | Delivery:
        """A lease: this attempt may send. Otherwise what another attempt left."""
        return self.claim_many([key])[0]

    def claim_many(self, idempotency_keys: Sequence[str]) -> list[Lease | Delivery]:
        """A claim for each key, in one round trip (a fire task's emails): a lease, this
        attempt may send; otherwise what another attempt left."""
        tokens = [secrets.token_hex(8) for _ in idempotency_keys]
        asked_at = time.monotonic()
        with self.redis.pipeline(transaction=False) as pipe:
            for key, token in zip(idempotency_keys, tokens, strict=True):
                pipe.set(keys.sent(key), f"{_SENDING}{token}", nx=True, px=self.lease_ms)
                pipe.get(keys.sent(key))
                pipe.exists(keys.fenced(key))
            replies = pipe.execute()
        claims: list[Lease | Delivery] = []
        together: list[Lease] = []
        for n, (key, token) in enumerate(zip(idempotency_keys, tokens, strict=True)):
            took, state, fenced = replies[3 * n : 3 * n + 3]
            if took:
                lease = Lease(self, key, token, asked_at, together, may_repeat=bool(fenced))
                together.append(lease)
                claims.append(lease)
            elif state in (b"sent", b"failed"):
                claims.append(Delivery("already sent"))
            else:
                claims.append(Delivery("busy"))
        return claims

    def let_go(self, leases: Sequence[Lease]) -> None:
        """Claims no attempt used (the task stopped first): released in one round trip,
        so the next attempt sends at once rather than after the lease."""
        if not leases:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for lease in leases:
                self.finish_script(
                    keys=_finish_keys(lease.key),
                    args=[lease.holder, "", KEEP_S, "", 0],
                    client=pipe,
                )
                lease.ended = True
            pipe.execute()

    def again(self, lease: Lease, writes: Writes) -> bool:
        """A transient failure: the next attempt sends."""
        return lease.finish("", writes)

    def failed(self, lease: Lease, writes: Writes) -> bool:
        return lease.finish("failed", writes)

    def sent(self, lease: Lease, writes: Writes) -> bool:
        """The message is out: if Redis is away right now, keep trying for half a lease
        (while the held marker still holds off everyone else), so that a short outage
        does not make the timer send it again. Past that the error propagates and the
        message may go twice: at least once, never silent. False: the lease was lost
        meanwhile, nothing written. The next email of the claim is fenced with it."""
        deadline = time.monotonic() + min(lease.left_s(), self.lease_s / 2)
        pause_s = 0.1
        while True:
            try:
                return lease.finish("sent", writes, fence_next=True)
            except redis.RedisError as error:
                if time.monotonic() + pause_s > deadline:
                    raise
                log.warning("sent, but Redis is away (%s): marking it again", error)
                time.sleep(pause_s)
                pause_s = min(2.0, pause_s * 2)


# -- what an outcome writes, as data ---------------------------------------------------

Field = str | int | None


@dataclass(frozen=True)
class Entry:
    """A line for an incident's timeline, written with a send's final outcome; the
    outcome's detail is added as its `detail` field."""

    incident: str
    kind: str
    fields: tuple[tuple[str, Field], ...] = ()


@dataclass(frozen=True)
class Written:
    """What one final outcome (sent, or failed for good) writes with its marker."""

    entries: tuple[Entry, ...] = ()
    commands: tuple[Command, ...] = ()
    """Anything else that goes with it (the release of the timer that made the send)."""


@dataclass(frozen=True)
class Record:
    """What a send writes when it is sent and when it fails for good. Neither is written
    for a retry, nor by an attempt that lost its lease."""

    sent: Written = Written()
    failed: Written = Written()

    def also(self, sent: tuple[Command, ...], failed: tuple[Command, ...]) -> Record:
        return Record(
            Written(self.sent.entries, self.sent.commands + sent),
            Written(self.failed.entries, self.failed.commands + failed),
        )


class Timeline(Protocol):
    """Who owns the timeline's lines (router.state.store.IncidentStore)."""

    def note_on(
        self, pipe: Pipe, incident_id: str, now: datetime, kind: str, **fields: Field
    ) -> None: ...


# -- the one flow -------------------------------------------------------------------------


class Payload(Protocol):
    """What a channel sends: an email, a notice to a URL, a webhook request."""

    @property
    def idempotency_key(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def repeated(self) -> Self:
        """The same send, marked for its receiver as possibly sent before (`Lease.may_repeat`)."""
        ...


P = TypeVar("P", bound=Payload, contravariant=True)


@dataclass(frozen=True)
class Failure:
    """How a channel reads a failed attempt."""

    detail: str
    retry: bool
    """Transient: the marker is let go and the timer tries again. Else failed for good."""
    retry_after_s: float = 0.0


class Channel(Protocol[P]):
    """One way of sending, behind the marker: its backend and what it knows of it."""

    once: SendOnce
    counted: bool
    """Counted in router_messages_* by the payload's kind and `name`, the backend."""
    name: str

    def held(self, payload: P, now: datetime) -> Delivery | None:
        """An answer without an attempt: "retry" while the backend is known to be down,
        "failed" for a send that cannot go (nothing to sign it with); None to try."""
        ...

    def send(self, payload: P, now: datetime, fence: Fence) -> str:
        """One attempt; what the service said when it took it. Raises when it did not."""
        ...

    def failure(self, payload: P, error: Exception, now: datetime, took_s: float) -> Failure:
        """What a failed attempt (started at `now`, after `took_s`) means."""
        ...

    def worked(self) -> None:
        """An attempt went through."""
        ...

    def describe(self, payload: P) -> str:
        """The send, for the log (no secrets)."""
        ...


class Deliveries:
    """Every send once: claim the marker, one attempt, its outcome and its record in the
    marker's script. Redis errors propagate (the task is redelivered)."""

    def __init__(self, client: redis.Redis, timeline: Timeline) -> None:
        self.redis, self.timeline = client, timeline

    def deliver(
        self,
        channel: Channel[P],
        payload: P,
        record: Record,
        now: datetime,
        claimed: Lease | Delivery | None = None,
    ) -> Delivery:
        """`claimed`: the marker claimed ahead (SendOnce.claim_many); None, claimed here."""
        held = channel.held(payload, now)
        if held is not None:
            if isinstance(claimed, Lease):
                channel.once.again(claimed, Writes())
            return self.refused(held.detail, record, now) if held.result == "failed" else held
        lease = claimed or channel.once.claim(payload.idempotency_key)
        if isinstance(lease, Delivery):
            return lease
        said = channel.describe(payload)
        if lease.may_repeat:
            log.warning("%s may have gone before: sent again, marked as a possible repeat", said)
            payload = payload.repeated()
        started = time.monotonic()
        try:
            detail = channel.send(payload, now, lease.fence)
        except LeaseLost as error:
            log.warning("%s not sent: %s", said, error)
            return Delivery("busy", str(error))
        except Exception as error:  # DeliveryFailed, or the backend's own errors
            failure = channel.failure(payload, error, now, time.monotonic() - started)
            if failure.retry:
                retried = self._counted(channel, payload, "router_message_retries")
                channel.once.again(lease, retried)
                log.warning("%s: %s; will retry", said, failure.detail)
                return Delivery("retry", failure.detail, failure.retry_after_s)
            failed = Delivery("failed", failure.detail)
            writes = self._written(
                channel, payload, "router_messages_failed", record.failed, failed, now
            )
            if not channel.once.failed(lease, writes):
                return Delivery("busy", f"{failure.detail}, but the lease was lost meanwhile")
            log.warning("%s failed for good: %s", said, failure.detail)
            return failed
        channel.worked()
        sent = Delivery("sent", detail)
        writes = self._written(channel, payload, "router_messages_sent", record.sent, sent, now)
        if not channel.once.sent(lease, writes):
            return Delivery("busy", f"{detail or 'sent'}, but the lease was lost meanwhile")
        return sent

    def refused(self, detail: str, record: Record, now: datetime) -> Delivery:
        """Failed for good without an attempt (no marker: nothing was claimed); its
        record is written all the same."""
        failed = Delivery("failed", detail)
        writes = Writes()
        self._entries(writes, record.failed, failed, now)
        with self.redis.pipeline() as pipe:
            writes.apply(pipe)
            pipe.execute()
        return failed

    def _counted(self, channel: Channel[P], payload: P, name: str) -> Writes:
        writes = Writes()
        if channel.counted:
            metrics.count(writes, name, {"kind": payload.kind, "backend": channel.name})
        return writes

    def _written(
        self,
        channel: Channel[P],
        payload: P,
        name: str,
        written: Written,
        delivery: Delivery,
        now: datetime,
    ) -> Writes:
        writes = self._counted(channel, payload, name)
        self._entries(writes, written, delivery, now)
        return writes

    def _entries(self, writes: Writes, written: Written, delivery: Delivery, now: datetime) -> None:
        for entry in written.entries:
            fields = dict(entry.fields)
            self.timeline.note_on(
                writes, entry.incident, now, entry.kind, **fields, detail=delivery.detail
            )
        writes.extend(written.commands)
