"""Due timers into messages: one handler per kind of timer behind one interface
(router.delivery.firing.plan.Handler), dispatched by the timer's kind.

Each handler reads what its decision needs (the incident or stored notice, the current
rules, the timeline), decides with a pure function that returns data (what to send, each
send with its idempotency key and what its outcome records; what happens to the timer),
and hands that to the shell (router.delivery.firing.run), which makes one delivery attempt per
send and releases the timer, leaves it to the worker already sending ("busy"), or puts
it back after a back-off ("retry").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import redis

from router.core.rules import Rules
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.delivery import Notifier
from router.delivery.firing import push, step
from router.delivery.firing.ack_timeout import AckTimeoutHandler
from router.delivery.firing.action import ActionHandler
from router.delivery.firing.chat import ChatHandler
from router.delivery.firing.notice import NoticeHandler
from router.delivery.firing.outbound import Outbound
from router.delivery.firing.plan import Fired, Handler, ReadAhead
from router.delivery.firing.resolved import ResolvedHandler
from router.delivery.firing.run import Runner
from router.delivery.firing.stepwise import DueStepHandler
from router.delivery.mail.compose import Composer
from router.delivery.mail.delivery import Mailer
from router.delivery.webhooks import WebhookCaller
from router.state.sendonce import Deliveries
from router.state.store import IncidentStore
from router.state.timers import Timer, TimerKind

__all__ = ["Fired", "Firing"]

_READ_AHEAD: frozenset[TimerKind] = frozenset({"step", "push"})


def read_ahead_ids(timers: Sequence[Timer]) -> list[str]:
    """The incidents read ahead for a fire task's `timers`: those of its step and push
    timers, unless a timer of another kind in the task is for the same incident."""
    changed = {timer.incident for timer in timers if timer.kind not in _READ_AHEAD}
    wanted = {t.incident for t in timers if t.kind in _READ_AHEAD and t.incident not in changed}
    return sorted(wanted)


class Firing:
    def __init__(
        self,
        client: redis.Redis,
        store: IncidentStore,
        composer: Composer,
        mailer: Mailer,
        retry_backoff_s: float,
        current_rules: Callable[[], Rules],
        webhooks: WebhookCaller,
        notifier: Notifier,
        notices: NoticeComposer,
        lease_s: float,
        rules: Rules,
    ) -> None:
        """`current_rules`: the rules with the run-time roster laid over
        (router.state.rosterstore); `rules`: the loaded ones, which the composer addresses by."""
        self.store, self.current_rules = store, current_rules
        deliveries = Deliveries(client, store)
        outbound = Outbound(deliveries, composer, notices, mailer, notifier, webhooks)
        runner = Runner(client, outbound, retry_backoff_s, lease_s)
        self.handlers: Mapping[TimerKind, Handler] = {
            "step": DueStepHandler(step.decide, store, runner),
            "push": DueStepHandler(push.decide, store, runner),
            "chat": ChatHandler(client, store, runner),
            "action": ActionHandler(client, store, runner),
            "ack_timeout": AckTimeoutHandler(store, runner),
            "resolved": ResolvedHandler(client, store, rules, runner),
            "msg": NoticeHandler(client, runner),
        }

    def read_ahead(self, members: Sequence[str]) -> ReadAhead:
        """What a fire task's timers read, once for them all: the rules, and the incidents
        of the step and push timers (the bulk of them), in one MGET. An incident that
        another of the task's timers may change (an acknowledgement timeout retriggers it)
        is left out, so its timers read it when they fire, after that change."""
        ids = read_ahead_ids([Timer.parse(member) for member in members])
        return ReadAhead(self.current_rules(), self.store.get_many(ids))

    def fire(self, member: str, now: datetime, ahead: ReadAhead | None = None) -> Fired:
        """`ahead`: read for the task's timers (`read_ahead`); none, read for this one."""
        timer = Timer.parse(member)
        ahead = ahead or self.read_ahead([member])
        return self.handlers[timer.kind].fire(member, timer, now, ahead)
