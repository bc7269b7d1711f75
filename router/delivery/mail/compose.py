"""Messages from templates: `templates/email/{kind}.html` and `{kind}.txt`.

The text template's first line is `Subject: ...`. HTML is autoescaped; both parts get the
same context. Incident messages carry signed Acknowledge and Resolve links for their
recipient.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from router.core.calendar import quiet_reason
from router.core.events import is_web_url
from router.core.incidents import Incident
from router.core.links import LinkAction, LinkClaim, sign
from router.core.maintenance import Span, Window
from router.core.message import OutgoingMessage
from router.core.replies import ReplyTo, reply_token
from router.core.rotation import Shift
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline, WebhookAction
from router.core.timeline import Line
from router.core.weekly import WHEN, WeekReport
from router.delivery.mail.charts import pages_chart
from router.state.actions import button_token

KINDS = (
    "page",
    "escalation",
    "deferred",
    "data_late",
    "resolved",
    "report_ready",
    "handoff",
    "maintenance_summary",
    "digest",
)
# a runbook that asks to "document the bug", "give an estimate": the page asks for a note
_ASKS_NOTE = re.compile(r"\b(document|estimate)", re.IGNORECASE)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


PURPOSE = {"investors": "reported to investors", "experiments": "needed for experiments"}


@dataclass(frozen=True)
class _Procedure:
    """What every message about one incident type of one pipeline says alike: worked out
    once, not for each message."""

    pipeline: Pipeline
    purpose: str
    runbook: str | None
    deadline: str | None
    asks_note: bool
    buttons: tuple[tuple[int, str], ...]
    """(index, label) of the runbook actions that wait for a person's button."""

    @classmethod
    def of(cls, pipeline: Pipeline, incident_type: str) -> _Procedure:
        deadline = pipeline.deadlines[0] if pipeline.deadlines else None
        runbook = pipeline.runbook.get(incident_type)
        return cls(
            pipeline=pipeline,
            purpose=PURPOSE[pipeline.purpose],
            runbook=runbook,
            deadline=deadline.at.strftime("%H:%M") if deadline else None,
            asks_note=bool(_ASKS_NOTE.search(runbook or "")),
            buttons=tuple(
                (index, action.label)
                for index, action in enumerate(pipeline.actions.get(incident_type, []))
                if isinstance(action, WebhookAction) and action.confirm
            ),
        )


class Composer:
    def __init__(
        self, templates_dir: Path, rules: Rules, public_url: str, secret: bytes, link_ttl_s: int
    ) -> None:
        self.rules, self.public_url = rules, public_url.rstrip("/")
        self.secret, self.link_ttl_s = secret, link_ttl_s
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
            # Read once: checking each template's file for changes cost a stat for every
            # template and include of every message. A change takes a restart.
            auto_reload=False,
        )
        self._templates: dict[str, jinja2.Template] = {}
        self._procedures: dict[tuple[str, str], _Procedure] = {}

    def _template(self, name: str) -> jinja2.Template:
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self.env.get_template(name)
        return template

    def _procedure(self, pipeline: Pipeline, incident_type: str) -> _Procedure:
        known = self._procedures.get((pipeline.id, incident_type))
        if known is None or known.pipeline is not pipeline:  # other rules: worked out again
            known = self._procedures[pipeline.id, incident_type] = _Procedure.of(
                pipeline, incident_type
            )
        return known

    # -- rendering ---------------------------------------------------------------------
    def render(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """(subject, text, html)."""
        text = self._template(f"{kind}.txt").render(context)
        first, _, body = text.partition("\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"template {kind}.txt must start with a 'Subject: ' line")
        subject = " ".join(first.removeprefix("Subject: ").split())
        html = self._template(f"{kind}.html").render(context, subject=subject)
        return subject, body.lstrip("\n"), html

    def message(
        self,
        kind: str,
        context: dict[str, Any],
        key: str,
        to: list[str],
        thread: str | None = None,
        images: dict[str, str] | None = None,
        reply_id: str | None = None,
    ) -> OutgoingMessage:
        """A message of `kind` from its templates: one idempotency key, its recipients."""
        subject, text, html = self.render(kind, context)
        return OutgoingMessage(
            idempotency_key=key,
            kind=kind,
            to=to,
            subject=subject,
            text=text,
            html=html,
            thread=thread,
            images=images or {},
            reply_id=reply_id,
        )

    def local(self, moment: datetime | None, fmt: str = "%a %Y-%m-%d %H:%M %Z") -> str:
        return "-" if moment is None else moment.astimezone(self.rules.team.zone).strftime(fmt)

    def push_acknowledge_url(self, incident: Incident, recipient: str, now: datetime) -> str:
        """The Acknowledge button of a push (router.api.push_links): signed, bound to the
        recipient, used once."""
        token = self._token(incident, recipient, "acknowledge", now)
        return f"{self.public_url}/push/acknowledge?token={token}"

    def _token(self, incident: Incident, recipient: str, action: LinkAction, now: datetime) -> str:
        claim = LinkClaim(
            incident=incident.id,
            recipient=recipient,
            action=action,
            expires_ts=int(now.timestamp()) + self.link_ttl_s,
        )
        return sign(claim, self.secret)

    def link(self, incident: Incident, recipient: str, action: LinkAction, now: datetime) -> str:
        token = self._token(incident, recipient, action, now)
        return f"{self.public_url}/email/{action}?token={token}"

    # -- incident messages ---------------------------------------------------------------
    def incident_context(
        self,
        incident: Incident,
        recipient: str,
        index: int | None,
        now: datetime,
        notes: Sequence[Line] | None = None,
    ) -> dict[str, Any]:
        """`notes`: the incident's notes, from its timeline (router.api.incidents)."""
        pipeline = self.rules.pipeline(incident.pipeline)
        procedure = self._procedure(pipeline, incident.type)
        plan = incident.escalation
        earlier: list[str] = []
        for step in plan[: index or 0]:
            earlier.extend(name for name in step.notify if name not in earlier)
        following = plan[index + 1] if index is not None and index + 1 < len(plan) else None
        next_step = None
        if following is not None and incident.deliver_at is not None:
            at = incident.deliver_at + timedelta(seconds=following.after_s)
            next_step = {"names": ", ".join(following.notify), "at": self.local(at, "%a %H:%M %Z")}
        return {
            "incident": incident,
            "pipeline": pipeline,
            "purpose": procedure.purpose,
            "summary": incident.summary or incident.type.replace("_", " "),
            "recipient": recipient,
            "opened_local": self.local(incident.opened_at),
            "opened_utc": incident.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
            "runbook": procedure.runbook,
            "sla": pipeline.sla,
            "earlier": earlier,
            "next_step": next_step,
            "quiet": quiet_reason(incident.opened_at, self.rules.team),
            "data_date": incident.details.get("data_date"),
            "deadline": procedure.deadline,
            "ack_url": self.link(incident, recipient, "acknowledge", now),
            "resolve_url": self.link(incident, recipient, "resolve", now),
            "incident_url": f"{self.public_url}/v1/incidents/{incident.id}",
            "console_url": f"{self.public_url}/incidents/{incident.id}",
            "buttons": [
                {
                    "label": label,
                    "url": f"{self.public_url}/actions/run?token="
                    + button_token(self.secret, incident.id, action_index, recipient),
                }
                for action_index, label in procedure.buttons
            ],
            "asks_note": procedure.asks_note,
            "notes": [
                {
                    "at": self.local(_instant(note.at)),
                    "by": note.by or "",
                    "text": note.text or "",
                    "estimate": self.local(_instant(note.estimate)) if note.estimate else None,
                }
                for note in notes or []
            ],
            "resolved_at": self.local(incident.resolved_at),
        }

    def incident_message(
        self,
        kind: str,
        incident: Incident,
        recipient: str,
        index: int | None,
        now: datetime,
        key: str,
        notes: Sequence[Line] | None = None,
    ) -> OutgoingMessage:
        context = self.incident_context(incident, recipient, index, now, notes)
        reply_id = reply_token(ReplyTo(incident.id, recipient), self.secret)
        to = self.incident_to(recipient)
        return self.message(kind, context, key, to, thread=incident.id, reply_id=reply_id)

    def incident_to(self, recipient: str) -> list[str]:
        """The To of an incident's email to the engineer `recipient`."""
        return [str(self.rules.team.engineer(recipient).email)]

    # -- notices ---------------------------------------------------------------------------
    def report_ready(
        self,
        event_id: str,
        pipeline: Pipeline,
        summary: str,
        links: list[str],
        data_date: str,
        recipient: str,
    ) -> OutgoingMessage:
        context = {
            "pipeline": pipeline,
            "purpose": PURPOSE[pipeline.purpose],
            "summary": summary,
            "links": [href for href in links if is_web_url(href)],  # never javascript: etc.
            "data_date": data_date,
        }
        return self.message("report_ready", context, f"notice:{event_id}:{recipient}", [recipient])

    def report_delayed(
        self,
        pipeline: Pipeline,
        data_date: str,
        recipient: str,
        blockers: list[Incident],
        estimate: str | None,
    ) -> OutgoingMessage:
        """One per report, day and analyst, unless the estimate changes: the key says so."""
        first = blockers[0]
        source = self.rules.pipelines.get(first.pipeline)
        what = first.summary or first.type.replace("_", " ")
        reason = f"{source.name if source else first.pipeline} has an open problem ({what})"
        if len(blockers) > 1:
            reason += f" and {len(blockers) - 1} more"
        shown = self.local(_instant(estimate)) if estimate else None
        context = {
            "pipeline": pipeline,
            "data_date": data_date,
            "reason": reason,
            "estimate": shown,
        }
        return self.message(
            "report_delayed",
            context,
            f"delay:{pipeline.id}:{data_date}:{recipient}:{estimate or '-'}",
            [recipient],
        )

    def action_email(
        self, incident: Incident, contact: str, on_it: list[str], key: str
    ) -> OutgoingMessage:
        """A runbook action: tell a contact (the IT helpdesk) about the incident."""
        pipeline = self.rules.pipeline(incident.pipeline)
        context = {
            "incident": incident,
            "pipeline": pipeline,
            "purpose": PURPOSE[pipeline.purpose],
            "summary": incident.summary or incident.type.replace("_", " "),
            "contact": contact,
            "opened_local": self.local(incident.opened_at),
            "on_it": ", ".join(on_it) or "the on-call engineer",
            "runbook": pipeline.runbook.get(incident.type),
        }
        return self.message(
            "action_email",
            context,
            key,
            [str(self.rules.team.contact(contact).email)],
            thread=incident.id,
        )

    def login(self, name: str, email: str, link: str, expires: datetime) -> OutgoingMessage:
        """The one-time sign-in link for the console."""
        context = {"recipient": name, "link": link, "expires": self.local(expires)}
        # the link's digest, not the link: keys end up in Redis and in headers
        key = f"login:{hashlib.sha256(link.encode()).hexdigest()[:32]}"
        return self.message("login", context, key, [email])

    def weekly_report(
        self, report: WeekReport, incoming: Shift, outgoing: Shift, recipient: str, email: str
    ) -> OutgoingMessage:
        """The week's pages, response times and open incidents, at the weekly handoff."""
        context = {
            "recipient": recipient,
            "incoming": incoming.engineer,
            "outgoing": outgoing.engineer,
            "start": self.local(report.start, "%a %Y-%m-%d"),
            "end": self.local(report.end, "%a %Y-%m-%d"),
            "total": report.total_pages(),
            "when": WHEN,
            "pages": sorted(report.pages.items()),
            "times": report.times,
            "handed": [
                {
                    "incident": item.incident,
                    "notes": [
                        {
                            "by": note.by,
                            "text": note.text,
                            "estimate": self.local(_instant(note.estimate))
                            if note.estimate
                            else None,
                        }
                        for note in item.notes
                    ],
                }
                for item in report.handed_over
            ],
        }
        images = {}
        if report.pages:  # a picture reads faster than the table when there were pages
            images["pages-chart"] = base64.b64encode(pages_chart(report.pages)).decode()
        context["chart"] = "pages-chart" if images else None
        return self.message(
            "weekly_report",
            context,
            f"weekly:{report.end.isoformat()}:{recipient}",
            [email],
            images=images,
        )

    def digest(
        self,
        recipient: str,
        incidents: Sequence[Incident],
        window_s: float,
        key: str,
        now: datetime,
    ) -> OutgoingMessage:
        """The pages held past a person's budget (router.core.digest): each incident with
        its state and links, newest last."""
        items = [
            {
                **self._listed(incident),
                "ack_url": self.link(incident, recipient, "acknowledge", now)
                if incident.status == "triggered"
                else None,
            }
            for incident in incidents
        ]
        context = {
            "recipient": recipient,
            "items": items,
            "open": sum(1 for i in incidents if i.status != "resolved"),
            "window_min": round(window_s / 60),
        }
        return self.message("digest", context, key, self.incident_to(recipient))

    def _listed(self, incident: Incident) -> dict[str, Any]:
        """An incident as a line of a digest or a summary lists it."""
        return {
            "severity": incident.severity,
            "pipeline": self.rules.pipeline(incident.pipeline).name,
            "summary": incident.summary or incident.type.replace("_", " "),
            "status": incident.status,
            "opened": self.local(incident.opened_at, "%a %H:%M %Z"),
            "console_url": f"{self.public_url}/incidents/{incident.id}",
        }

    def maintenance_summary(
        self, window: Window, span: Span, muted: Sequence[Incident], recipient: str
    ) -> OutgoingMessage:
        """At a maintenance window's end: what it kept from paging, resolved meanwhile or
        still open (those still triggered are decided again now)."""
        ordered = sorted(muted, key=lambda incident: (incident.opened_at, incident.id))
        context = {
            "recipient": recipient,
            "window": window.id,
            "reason": window.reason,
            "covers": window.covering(self.rules.pipeline_names()),
            "start": self.local(span.start),
            "end": self.local(span.end),
            "muted": len(ordered),
            "resolved": [self._listed(i) for i in ordered if i.status == "resolved"],
            "still_open": [self._listed(i) for i in ordered if i.status != "resolved"],
        }
        key = f"maintenance:{window.id}:{int(span.start.timestamp())}:{recipient}"
        return self.message("maintenance_summary", context, key, self.incident_to(recipient))

    def handoff(self, incoming: Shift, outgoing: Shift, recipient: Shift) -> OutgoingMessage:
        context = {
            "incoming": incoming,
            "outgoing": outgoing,
            "is_incoming": recipient is incoming,
            "recipient": recipient.engineer,
            "start": self.local(incoming.start),
            "end": self.local(incoming.end),
            "holiday_period": incoming.holiday_period,
        }
        return self.message(
            "handoff",
            context,
            f"handoff:{incoming.start.isoformat()}:{recipient.engineer}",
            [recipient.email],
        )
