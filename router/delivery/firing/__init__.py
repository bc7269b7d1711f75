"""Due timers into messages: one handler per kind of timer behind one interface
(router.delivery.firing.plan.Handler), dispatched by the timer's kind.

Each handler reads what its decision needs (the incident or stored notice, the current
rules, the timeline), decides with a pure function that returns data (what to send, each
send with its idempotency key and what its outcome records; what happens to the timer),
and hands that to the shell (router.delivery.firing.run), which makes one delivery attempt per
send and releases the timer, leaves it to the worker already sending ("busy"), or puts
it back after a back-off ("retry").

A fire task's timers (FIRE_BATCH of them) are prepared together (`Firing.prepare`): the
rules and their incidents read in one round trip, the step and push timers decided,
their emails' markers claimed in one more and those emails composed, so a page costs
the round trips of its send alone. What was read is used for a second at most (`Firing.fresh`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import redis

from router.core.message import OutgoingMessage
from router.core.rules import Rules
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.delivery import Notifier
from router.delivery.firing import push, step
from router.delivery.firing.ack_timeout import AckTimeoutHandler
from router.delivery.firing.action import ActionHandler
from router.delivery.firing.chat import ChatHandler
from router.delivery.firing.digest import DigestHandler
from router.delivery.firing.due import Hold
from router.delivery.firing.notice import NoticeHandler
from router.delivery.firing.outbound import Outbound
from router.delivery.firing.plan import Done, Fired, Handler, IncidentEmail, Plan, ReadAhead
from router.delivery.firing.resolved import ResolvedHandler
from router.delivery.firing.run import Runner
from router.delivery.firing.stepwise import DueStepHandler
from router.delivery.firing.unmute import UnmuteHandler
from router.delivery.mail.compose import Composer
from router.delivery.mail.delivery import Mailer
from router.delivery.slack.channel import SlackPoster
from router.delivery.webhooks import WebhookCaller
from router.state.digests import Digests
from router.state.sendonce import Deliveries, Delivery, Lease
from router.state.store import IncidentStore
from router.state.timers import Timer, TimerKind

__all__ = ["Fired", "Firing", "Prepared"]

log = logging.getLogger(__name__)

_READ_AHEAD: frozenset[TimerKind] = frozenset({"step", "push"})
PREPARED_FRESH_S = 1.0
"""How long a fire task's timers fire on what it read and decided for them at once: about
the time one send takes when the backends are well, never much more."""


def read_ahead_ids(timers: Sequence[Timer]) -> list[str]:
    """The incidents read ahead for a fire task's `timers`: those of its step and push
    timers, unless a timer of another kind in the task is for the same incident."""
    changed = {timer.incident for timer in timers if timer.kind not in _READ_AHEAD}
    wanted = {t.incident for t in timers if t.kind in _READ_AHEAD and t.incident not in changed}
    return sorted(wanted)


@dataclass
class Prepared:
    """What `Firing.prepare` did for a fire task: the read-ahead, the decisions of its
    step and push timers by member, and its emails' markers claimed ahead by send key,
    each taken once by the send it is for (router.delivery.firing.run.Ahead)."""

    ahead: ReadAhead
    decided: Mapping[str, Done | Plan | Hold]
    claims: dict[str, Lease | Delivery]
    emails: Sequence[tuple[str, IncidentEmail]] = ()
    """The emails decided, by send key, in the order they go."""
    messages: dict[str, OutgoingMessage] = field(default_factory=dict)
    """Those of them that hold a claim, composed ahead."""
    made_at: float = field(default_factory=time.monotonic)

    def take(self, key: str) -> Lease | Delivery | None:
        return self.claims.pop(key, None)

    def composed(self, key: str) -> OutgoingMessage | None:
        return self.messages.pop(key, None)

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {key: position for position, (key, _) in enumerate(self.emails)}

    def after(self, key: str) -> IncidentEmail | None:
        """The next email decided after the email `key` that holds a claim not yet taken:
        the one this task sends next (its MAIL group may go ahead: SmtpBackend)."""
        start = self._positions[key] + 1 if key in self._positions else 0
        for each, email in self.emails[start:]:
            if isinstance(self.claims.get(each), Lease):
                return email
        return None


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
        digests: Digests,
        slack: SlackPoster,
    ) -> None:
        """`current_rules`: the rules with the run-time roster laid over
        (router.state.rosterstore); `rules`: the loaded ones, which the composer addresses by."""
        self.store, self.current_rules = store, current_rules
        deliveries = Deliveries(client, store)
        outbound = Outbound(deliveries, composer, notices, mailer, notifier, webhooks, slack)
        runner = Runner(client, outbound, retry_backoff_s, lease_s)
        self.outbound, self.digests = outbound, digests
        self.due: Mapping[TimerKind, DueStepHandler] = {
            "step": DueStepHandler(step.decide, store, runner, digests, holds=True),
            "push": DueStepHandler(push.decide, store, runner, digests, holds=False),
        }
        self.handlers: Mapping[TimerKind, Handler] = {
            **self.due,
            "chat": ChatHandler(client, store, runner),
            "action": ActionHandler(client, store, runner),
            "ack_timeout": AckTimeoutHandler(store, runner),
            "unmute": UnmuteHandler(store, runner),
            "resolved": ResolvedHandler(client, store, rules, runner),
            "msg": NoticeHandler(client, runner),
            "digest": DigestHandler(store, digests, composer, runner),
        }

    def read_ahead(self, members: Sequence[str], now: datetime) -> ReadAhead:
        """What a fire task's timers read, once for them all: the rules, and the incidents
        of the step and push timers (the bulk of them), in one MGET. An incident that
        another of the task's timers may change (an acknowledgement timeout retriggers it)
        is left out, so its timers read it when they fire, after that change. With step
        or push timers, the engineers' pages in the digest window (one more round trip)."""
        timers = [Timer.parse(member) for member in members]
        ids = read_ahead_ids(timers)
        rules = self.current_rules()
        people = [person.name for person in rules.team.engineers]
        pages = any(timer.kind in _READ_AHEAD for timer in timers)
        budget = self.digests.budget(people, now) if pages else None
        return ReadAhead(rules, self.store.get_many(ids), budget)

    def prepare(self, members: Sequence[str], now: datetime) -> Prepared:
        """A fire task's work done once for all its timers, before the first fires: the
        read-ahead, the decisions of its step and push timers (pure), and the markers of
        their emails claimed in one round trip. `let_go` releases the claims no timer
        used (the task stopped first)."""
        ahead = self.read_ahead(members, now)
        decided: dict[str, Done | Plan | Hold] = {}
        for member in members:
            timer = Timer.parse(member)
            if timer.kind in self.due:
                decided[member] = self.due[timer.kind].decide(timer, now, ahead)
        sends = [send for plan in decided.values() if isinstance(plan, Plan) for send in plan.sends]
        if ahead.budget is not None:  # the pages decided count for the next tasks' budgets
            pages = [
                (send.what.recipient, send.key)
                for send in sends
                if send.counts and isinstance(send.what, IncidentEmail)
            ]
            self.digests.note_pages(pages, now)
        emails = [(send.key, send.what) for send in sends if isinstance(send.what, IncidentEmail)]
        claims = self.outbound.claim_emails(sends, now)
        going = [(key, email) for key, email in emails if isinstance(claims.get(key), Lease)]
        messages = self.outbound.compose_emails(going, now)
        return Prepared(ahead, decided, claims, emails, messages)

    def fire(self, member: str, now: datetime, prepared: Prepared | None = None) -> Fired:
        """`prepared`: for the task's timers (`prepare`); none, for this one alone."""
        if prepared is not None:
            return self._fire(member, now, prepared)
        alone = self.prepare([member], now)
        try:
            return self._fire(member, now, alone)
        finally:
            self.let_go(alone)

    def _fire(self, member: str, now: datetime, prepared: Prepared) -> Fired:
        timer = Timer.parse(member)
        decided = prepared.decided.get(member)
        if decided is not None and timer.kind in self.due:
            return self.due[timer.kind].run(member, decided, now, prepared)
        return self.handlers[timer.kind].fire(member, timer, now, prepared.ahead)

    def fresh(self, prepared: Prepared, members: Sequence[str], now: datetime) -> Prepared:
        """`prepared`, or made again for the timers not yet fired once it is older than
        PREPARED_FRESH_S (slow sends): a timer never fires on what it read long before,
        an acknowledgement since included."""
        if time.monotonic() - prepared.made_at <= PREPARED_FRESH_S:
            return prepared
        self.let_go(prepared)
        return self.prepare(members, now)

    def let_go(self, prepared: Prepared) -> None:
        """The claims of `prepared` no send took, released (a Redis error here leaves
        them to run out with their lease)."""
        claims = list(prepared.claims.values())
        prepared.claims.clear()
        try:
            self.outbound.let_go(claims)
        except redis.RedisError as error:
            log.warning("fire: claims not released, they run out with their lease: %s", error)
