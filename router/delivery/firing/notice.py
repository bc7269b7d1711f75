"""A stored notice (router.state.outbox): sent once, deleted with its timer's release."""

from __future__ import annotations

from datetime import datetime

import redis

from router.delivery.firing.plan import Done, Fired, Plan, ReadAhead, Release, Send, StoredEmail
from router.delivery.firing.run import Runner
from router.state import outbox
from router.state.outbox import StoredMessage
from router.state.sendonce import Record
from router.state.timers import Timer


def decide(stem: str, stored: StoredMessage | None) -> Plan | Done:
    if stored is None:
        return Done("stale", "no such message", Release())
    message = stored.message
    send = Send(StoredEmail(message), message.idempotency_key, Record())
    return Plan(said=f"{message.kind} to {', '.join(message.to)}", sends=(send,), discard=stem)


class NoticeHandler:
    def __init__(self, client: redis.Redis, runner: Runner) -> None:
        self.redis, self.runner = client, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        stem = timer.incident  # a notice timer names its message's stem
        decided = decide(stem, outbox.get(self.redis, stem))
        if isinstance(decided, Done):
            return self.runner.done(member, decided)
        return self.runner.run(member, decided, now)
