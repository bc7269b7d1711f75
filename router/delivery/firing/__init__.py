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

from collections.abc import Callable, Mapping
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
from router.delivery.firing.plan import Fired, Handler
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
        deliveries = Deliveries(client, store)
        outbound = Outbound(deliveries, composer, notices, mailer, notifier, webhooks)
        runner = Runner(client, outbound, retry_backoff_s, lease_s)
        self.handlers: Mapping[TimerKind, Handler] = {
            "step": DueStepHandler(step.decide, store, current_rules, runner),
            "push": DueStepHandler(push.decide, store, current_rules, runner),
            "chat": ChatHandler(client, store, current_rules, runner),
            "action": ActionHandler(client, store, current_rules, runner),
            "ack_timeout": AckTimeoutHandler(store, runner),
            "resolved": ResolvedHandler(client, store, rules, runner),
            "msg": NoticeHandler(client, runner),
        }

    def fire(self, member: str, now: datetime) -> Fired:
        timer = Timer.parse(member)
        return self.handlers[timer.kind].fire(member, timer, now)
