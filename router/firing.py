"""Due timers into messages: escalation steps, stored notices, resolved notices.

A fired timer re-reads its incident (acknowledged, resolved or stale sends nothing),
makes one delivery attempt per recipient, and then releases the timer, leaves it to the
worker already sending ("busy"), or puts it back after a back-off ("retry").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis

from router import keys, metrics, outbox, paging
from router.channels.compose import NoticeComposer
from router.channels.delivery import Notifier
from router.channels.stream import ChatLine, Stream, append_once, line_for
from router.escalation import PlannedStep, recipients_now
from router.incidents import Incident
from router.mail.compose import Composer
from router.mail.delivery import Mailer
from router.mail.message import OutgoingMessage
from router.rules import Rules
from router.rules.contact_methods import masked
from router.rules.pipelines import WebhookAction
from router.sendonce import Delivery, Recorded
from router.store import IncidentStore
from router.tasks import FireResult
from router.timers import Timer, release, reschedule, retry_later, schedule_in
from router.webhooks import WebhookCaller, render_body


@dataclass(frozen=True)
class _DueStep:
    index: int
    """Its place in the incident's plan."""
    step: PlannedStep
    due: datetime
    """When its email was due."""
    names: list[str]
    rules: Rules
    """The current rules, read once for the whole fire."""


@dataclass(frozen=True)
class Fired:
    result: FireResult
    said: str

    def __str__(self) -> str:
        return f"{self.result}: {self.said}" if self.said else self.result


def _step_key(incident: Incident, step: PlannedStep, name: str) -> str:
    """(incident, round, step, person): a channel's key adds the channel to it."""
    key = f"{incident.id}:{step.round}:{step.step}:{name}"
    if incident.cycle:  # escalation started again after an acknowledgement timeout
        key += f":again{incident.cycle}"
    return key


def _first_kind(incident: Incident) -> str:
    if incident.decision == "defer":
        return "deferred"
    return "data_late" if incident.type == "data_late" else "page"


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
    ) -> None:
        """`current_rules`: the rules with the run-time roster laid over (router.rosterstore)."""
        self.redis, self.store, self.composer, self.mailer = client, store, composer, mailer
        self.retry_backoff_s = retry_backoff_s
        self.current_rules = current_rules
        self.webhooks = webhooks
        self.notifier, self.notices, self.lease_s = notifier, notices, lease_s
        self.stream = Stream(
            client, notifier, lambda: current_rules().team.chat, notices.chat, self._chat_noted
        )

    def fire(self, member: str, now: datetime) -> Fired:
        timer = Timer.parse(member)
        if timer.kind == "msg":
            return self._message(member, timer.incident, now)
        incident = self.store.get(timer.incident)
        if incident is None:
            release(self.redis, member)
            return Fired("stale", "no such incident")
        if timer.kind == "resolved":
            return self._resolved(member, incident, now)
        if timer.kind == "ack_timeout":
            return self._ack_timeout(member, incident, now)
        if timer.kind == "action":
            return self._action(member, timer.round, incident, now)
        if timer.kind == "chat":
            return self._chat(member, incident, now)
        if timer.kind == "push":
            return self._later_pushes(member, timer, incident, now)
        return self._step(member, timer, incident, now)

    def _due_step(
        self, member: str, timer: Timer, incident: Incident, now: datetime
    ) -> _DueStep | Fired:
        """The step a step or push timer is for, when its email was due and whom it
        notifies under the current roster; or why there is nothing to send."""
        if incident.status != "triggered" or incident.deliver_at is None:
            release(self.redis, member)
            return Fired("nothing", f"incident {incident.status}")
        plan = incident.escalation
        index = next(
            (n for n, s in enumerate(plan) if (s.round, s.step) == (timer.round, timer.step)),
            None,
        )
        if index is None:
            release(self.redis, member)
            return Fired("stale", "step not in plan")
        step = plan[index]
        due = incident.deliver_at + timedelta(seconds=step.after_s)
        if now < due:
            return Fired("early", "")  # leave the lease: it is claimed again when due
        rules = self.current_rules()
        names = recipients_now(step, incident.policy, incident.pipeline, incident.deliver_at, rules)
        return _DueStep(index, step, due, names, rules)

    def _step(self, member: str, timer: Timer, incident: Incident, now: datetime) -> Fired:
        found = self._due_step(member, timer, incident, now)
        if isinstance(found, Fired):
            return found
        index, step, due, names = found.index, found.step, found.due, found.names
        kind = _first_kind(incident) if index == 0 else "escalation"
        if index > 0 and found.rules.team.chat:
            line = line_for(incident, "escalated", detail=f"paging {', '.join(names)}")
            tag = f"{step.round}:{step.step}:{incident.cycle}"
            append_once(self.redis, line, tag, now, self.lease_s)
        emails = []
        for name in names:
            key = _step_key(incident, step, name)
            message = self.composer.incident_message(kind, incident, name, index, now, key=key)
            emails.append(self._send_and_note(message, incident, name, now, step.round, step.step))
        pushed, later = self._push(incident, found, now)
        if later is not None:  # before the step is released: a crash fires it again
            push = Timer(kind="push", incident=incident.id, round=step.round, step=step.step)
            schedule_in(self.redis, push, later.timestamp())
        counted = None
        if any(d.result == "sent" for d in emails):

            def counted(pipe: Any) -> None:
                metrics.count(pipe, "router_escalation_steps", {"message": kind})
                metrics.observe_lateness(pipe, (now - due).total_seconds())

        return self._settle(member, emails + pushed, now, f"{kind} to {', '.join(names)}", counted)

    def _later_pushes(self, member: str, timer: Timer, incident: Incident, now: datetime) -> Fired:
        """A step's pushes that wait for an acknowledgement: none once it came."""
        found = self._due_step(member, timer, incident, now)
        if isinstance(found, Fired):
            return found
        pushed, later = self._push(incident, found, now)
        said = f"push to {', '.join(found.names)}"
        if later is not None and all(d.result not in ("retry", "busy") for d in pushed):
            reschedule(self.redis, member, later.timestamp())
            return Fired("sent" if pushed else "early", said)
        return self._settle(member, pushed, now, said)

    def _push(
        self, incident: Incident, found: _DueStep, now: datetime
    ) -> tuple[list[Delivery], datetime | None]:
        """The step's pushes due by now, one attempt each (sent once per key); and when
        the next one is due."""
        rules, step = found.rules, found.step
        tone = paging.urgency(incident, rules)
        deliveries, later = [], []
        for push in paging.pushes(incident, found.names, found.due, rules):
            if push.due > now:
                later.append(push.due)
                continue
            url = rules.team.engineer(push.person).contact_methods[push.method]
            key = f"{_step_key(incident, step, push.person)}:push{push.rule}:{push.method}"
            notice = self.notices.page(incident, push.person, found.index, now, key, tone)
            deliveries.append(
                self.notifier.deliver(url, notice, self._push_noted(incident, push, url, step, now))
            )
        return deliveries, min(later, default=None)

    def _push_noted(
        self, incident: Incident, push: paging.Push, url: str, step: PlannedStep, now: datetime
    ) -> Recorded:
        def recorded(pipe: Any, delivery: Delivery) -> None:
            self.store.note_on(
                pipe,
                incident.id,
                now,
                "push" if delivery.result == "sent" else "push failed",
                to=push.person,
                channel=masked(url),
                round=step.round,
                step=step.step,
                detail=delivery.detail,
            )

        return recorded

    def _chat_noted(self, line: ChatLine, now: datetime) -> Recorded:
        """A chat line refused for good goes on the incident's timeline."""

        def recorded(pipe: Any, delivery: Delivery) -> None:
            if delivery.result == "failed":
                said = {"change": line.change, "detail": delivery.detail}
                self.store.note_on(pipe, line.incident, now, "chat failed", **said)

        return recorded

    def _chat(self, member: str, incident: Incident, now: datetime) -> Fired:
        """The incident's lines for the team chat, in order, from where they stopped."""
        tried, released = self.stream.drain(member, incident.id, now)
        said = f"{len(tried)} chat line(s)"
        if released:
            failed = tried and all(d.result == "failed" for _, d in tried)
            return Fired("failed" if failed else "sent" if tried else "nothing", said)
        return self._settle(member, [d for _, d in tried], now, said)

    def _action(self, member: str, index: int, incident: Incident, now: datetime) -> Fired:
        """A runbook action (email a contact), unless the incident was resolved first."""
        actions = self.current_rules().pipeline(incident.pipeline).actions.get(incident.type, [])
        if incident.status == "resolved" or index >= len(actions):
            release(self.redis, member)
            return Fired("nothing", f"incident {incident.status}")
        action = actions[index]
        if isinstance(action, WebhookAction):
            return self._webhook(member, index, action, incident, now)
        contact = action.email
        on_it = [incident.acknowledged_by] if incident.acknowledged_by else []
        on_it = on_it or (incident.escalation[0].notify if incident.escalation else [])
        key = f"{incident.id}:action{index}:{contact}"
        message = self.composer.action_email(incident, contact, on_it, key)
        delivery = self.mailer.deliver(message, now)
        if delivery.result in ("sent", "failed"):
            said = {"action": f"email {contact}", "email": message.to[0], "detail": delivery.detail}
            self.store.note(
                incident.id, now, "action" if delivery.result == "sent" else "action failed", **said
            )
        return self._settle(member, [delivery], now, f"action: email {contact}")

    def _webhook(
        self, member: str, index: int, action: WebhookAction, incident: Incident, now: datetime
    ) -> Fired:
        hook = action.webhook
        pipeline = self.current_rules().pipeline(incident.pipeline)
        requested = self.redis.get(keys.action_requested(incident.id, index))
        by = requested.decode() if isinstance(requested, bytes) else "the router"
        context = {"incident": incident, "pipeline": pipeline, "by": by}
        body = render_body(hook.body, context)
        key = f"{incident.id}:action{index}"
        delivery = self.webhooks.call(
            hook.url, hook.method, body, hook.secret_env, hook.headers, key, now
        )
        if delivery.result in ("sent", "failed"):
            kind = "action" if delivery.result == "sent" else "action failed"
            said = {"action": action.label, "detail": delivery.detail, "by": by}
            self.store.note(incident.id, now, kind, **said)
        return self._settle(member, [delivery], now, f"action: {action.label}")

    def _ack_timeout(self, member: str, incident: Incident, now: datetime) -> Fired:
        """Triggered again if still acknowledged and not snoozed past now; a snooze
        moved this timer, so an early one is left for its new due time."""
        if incident.status == "acknowledged" and incident.ack_expires_at is not None:
            if now < incident.ack_expires_at:
                reschedule(self.redis, member, incident.ack_expires_at.timestamp())
                return Fired("early", "snoozed")
            if self.store.retrigger(incident.id, now) is not None:
                release(self.redis, member)
                return Fired("sent", "acknowledgement timed out: triggered again")
        release(self.redis, member)
        return Fired("nothing", f"incident {incident.status}")

    def _resolved(self, member: str, incident: Incident, now: datetime) -> Fired:
        """Tell everyone who was paged for the incident that it is resolved, and release
        the report notices it held (router.outbox.hold)."""
        outbox.release(self.redis, incident.id, now)
        paged: list[str] = []
        notes = []
        for entry in self.store.timeline(incident.id):
            if entry["kind"] == "message" and entry["to"] not in paged:
                paged.append(entry["to"])
            elif entry["kind"] == "note":
                notes.append(entry)
        deliveries = []
        for name in paged:
            key = f"{incident.id}:resolved:{name}"
            message = self.composer.incident_message(
                "resolved", incident, name, None, now, key=key, notes=notes
            )
            deliveries.append(self._send_and_note(message, incident, name, now, None, None))
        return self._settle(member, deliveries, now, f"resolved to {', '.join(paged) or 'nobody'}")

    def _message(self, member: str, stem: str, now: datetime) -> Fired:
        stored = outbox.get(self.redis, stem)
        if stored is None:
            release(self.redis, member)
            return Fired("stale", "no such message")
        delivery = self.mailer.deliver(stored.message, now)
        said = f"{stored.message.kind} to {', '.join(stored.message.to)}"
        fired = self._settle(member, [delivery], now, said)
        if fired.result in ("sent", "failed"):
            self.redis.delete(keys.message(stem))
        return fired

    def _settle(
        self,
        member: str,
        deliveries: list[Delivery],
        now: datetime,
        said: str,
        counted: Callable[[Any], None] | None = None,
    ) -> Fired:
        """Release the timer, or put it back after a back-off; `counted` (metrics of what
        this attempt sent) goes with the release, or on its own."""
        results = {d.result for d in deliveries}
        if "retry" in results or "busy" in results:
            if counted is not None:
                with self.redis.pipeline(transaction=False) as pipe:
                    counted(pipe)
                    pipe.execute()
            if "busy" in results:
                return Fired("busy", said)  # another worker holds the send: its lease decides
            asked_s = max(d.retry_after_s for d in deliveries)
            if all(d.held for d in deliveries if d.result == "retry"):
                # Nothing was tried (the backend is down): no attempt to back off from.
                reschedule(self.redis, member, now.timestamp() + asked_s)
                return Fired("retry", f"{said}; held {asked_s:g} s, the backend is down")
            wait_s = retry_later(self.redis, member, now.timestamp(), self.retry_backoff_s, asked_s)
            return Fired("retry", f"{said}; again in {wait_s:g} s")
        release(self.redis, member, counted)
        return Fired("failed" if results == {"failed"} else "sent", said)

    def _send_and_note(
        self,
        message: OutgoingMessage,
        incident: Incident,
        name: str,
        now: datetime,
        round_no: int | None,
        step_no: int | None,
    ) -> Delivery:
        """One attempt; what was sent or failed for good goes on the incident's timeline,
        in the same MULTI as the send's marker."""

        def recorded(pipe: Any, delivery: Delivery) -> None:
            self.store.note_on(
                pipe,
                incident.id,
                now,
                "message" if delivery.result == "sent" else "message failed",
                to=name,
                email=message.to[0],
                message=message.kind,
                round=round_no,
                step=step_no,
                detail=delivery.detail,
            )

        return self.mailer.deliver(message, now, recorded)
