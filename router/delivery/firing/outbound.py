"""A decided send composed (email, notice or webhook request) and delivered once through
its channel (router.state.sendonce.Deliveries)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import assert_never

from router.core.message import OutgoingMessage
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.delivery import Addressed, Notifier
from router.delivery.firing.plan import (
    ActionEmail,
    ChatPost,
    IncidentEmail,
    PagePush,
    Refused,
    Send,
    SlackLine,
    StoredEmail,
    WebhookCall,
)
from router.delivery.mail.compose import Composer
from router.delivery.mail.delivery import Mail, Mailer
from router.delivery.slack.channel import SlackPoster
from router.delivery.slack.compose import SlackComposer
from router.delivery.webhooks import WebhookCaller, WebhookRequest, render_body
from router.state.sendonce import Deliveries, Delivery, Lease, Record


class Outbound:
    def __init__(
        self,
        deliveries: Deliveries,
        composer: Composer,
        notices: NoticeComposer,
        mailer: Mailer,
        notifier: Notifier,
        webhooks: WebhookCaller,
        slack: SlackPoster,
    ) -> None:
        self.deliveries, self.composer, self.notices = deliveries, composer, notices
        self.mailer, self.notifier, self.webhooks = mailer, notifier, webhooks
        self.slack, self.slack_posts = slack, SlackComposer(notices)

    def claim_emails(self, sends: Sequence[Send], now: datetime) -> dict[str, Lease | Delivery]:
        """The markers of the incident emails among `sends`, claimed in one round trip
        (none while the mail backend is down: nothing would be tried)."""
        emails = [send.key for send in sends if isinstance(send.what, IncidentEmail)]
        if not emails or self.mailer.down(now):
            return {}
        return dict(zip(emails, self.mailer.once.claim_many(emails), strict=True))

    def compose_emails(
        self, emails: Sequence[tuple[str, IncidentEmail]], now: datetime
    ) -> dict[str, OutgoingMessage]:
        """Incident emails by send key, composed one after another: in one run, ahead of
        the task's round trips, the templates' code and data stay in the CPU's caches
        (a burst's page took about a tenth less of the machine's CPU). An email that
        cannot be composed is left out: composed again when it is sent, its error is that
        send's alone, as before, and holds up none of the others."""
        compose, messages = self.composer.incident_message, {}
        for key, e in emails:
            try:
                messages[key] = compose(e.kind, e.incident, e.recipient, e.index, now, key, e.notes)
            except Exception:  # raised again where it is sent
                continue
        return messages

    def let_go(self, claims: Iterable[Lease | Delivery]) -> None:
        self.mailer.once.let_go([claim for claim in claims if isinstance(claim, Lease)])

    def send(
        self,
        send: Send,
        record: Record,
        now: datetime,
        claimed: Lease | Delivery | None = None,
        then: IncidentEmail | None = None,
        composed: OutgoingMessage | None = None,
    ) -> Delivery:
        """One attempt; `record` is the send's own, or it with the timer's release;
        `claimed`: an email's marker claimed ahead (`claim_emails`); `then`: after an
        incident email, the one the task sends next (the mail backend may start it with
        this one's end); `composed`: the incident email composed ahead (`compose_emails`)."""
        what, key, deliver = send.what, send.key, self.deliveries.deliver
        if isinstance(what, IncidentEmail):
            then_to = () if then is None else self.composer.incident_to(then.recipient)
            if composed is None:
                composed = self.composer.incident_message(
                    what.kind, what.incident, what.recipient, what.index, now, key, what.notes
                )
            return deliver(self.mailer, Mail(composed, then_to), record, now, claimed)
        if isinstance(what, ActionEmail):
            on_it = list(what.on_it)
            message = self.composer.action_email(what.incident, what.contact, on_it, key)
            return deliver(self.mailer, Mail(message), record, now)
        if isinstance(what, StoredEmail):
            return deliver(self.mailer, Mail(what.message), record, now)
        if isinstance(what, PagePush):
            notice = self.notices.page(
                what.incident, what.recipient, what.index, now, key, what.tone
            )
            return deliver(self.notifier, Addressed(what.url, notice), record, now)
        if isinstance(what, ChatPost):
            notice = self.notices.chat(what.line, key)
            return deliver(self.notifier, Addressed(what.url, notice), record, now)
        if isinstance(what, SlackLine):
            post = self.slack_posts.post(what.line, what.number, key, what.channel)
            return deliver(self.slack, post, record, now)
        if isinstance(what, WebhookCall):
            hook = what.action.webhook
            context = {"incident": what.incident, "pipeline": what.pipeline, "by": what.by}
            body = render_body(hook.body, context)
            headers = tuple(hook.headers.items())
            request = WebhookRequest(hook.url, hook.method, body, hook.secret_env, headers, key)
            return deliver(self.webhooks, request, record, now)
        if isinstance(what, Refused):
            return self.deliveries.refused(what.detail, record, now)
        assert_never(what)
