"""Messages from templates: `templates/email/{kind}.txt`, first line `Subject: ...`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from router.incidents import Incident
from router.mail.message import OutgoingMessage
from router.rules import Rules


class Composer:
    def __init__(self, templates_dir: Path, rules: Rules, public_url: str) -> None:
        self.rules, self.public_url = rules, public_url.rstrip("/")
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,  # plain-text parts; HTML parts are autoescaped separately
        )

    def render(self, kind: str, **context: Any) -> tuple[str, str]:
        rendered = self.env.get_template(f"{kind}.txt").render(**context)
        first, _, body = rendered.partition("\n")
        if not first.startswith("Subject: "):
            raise ValueError(f"template {kind}.txt must start with a 'Subject: ' line")
        return first.removeprefix("Subject: ").strip(), body.lstrip("\n")

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return moment.astimezone(self.rules.team.zone).strftime("%a %Y-%m-%d %H:%M %Z")

    def incident_message(
        self,
        kind: str,
        incident: Incident,
        recipient: str,
        round_no: int,
        step_no: int,
        earlier: list[str],
    ) -> OutgoingMessage:
        pipeline = self.rules.pipeline(incident.pipeline)
        person = self.rules.team.engineer(recipient)
        subject, text = self.render(
            kind,
            incident=incident,
            pipeline=pipeline,
            recipient=person,
            earlier=earlier,
            runbook=pipeline.runbook.get(incident.type),
            opened_local=self.local(incident.opened_at),
            opened_utc=incident.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
            url=f"{self.public_url}/v1/incidents/{incident.id}",
        )
        return OutgoingMessage(
            idempotency_key=f"{incident.id}:{round_no}:{step_no}:{recipient}",
            kind=kind,
            to=[str(person.email)],
            subject=subject,
            text=text,
            thread=incident.id,
        )

    def notice(
        self,
        event_id: str,
        pipeline_id: str,
        summary: str,
        links: list[str],
        data_date: str,
        recipient: str,
    ) -> OutgoingMessage:
        pipeline = self.rules.pipeline(pipeline_id)
        subject, text = self.render(
            "report_ready", pipeline=pipeline, summary=summary, links=links, data_date=data_date
        )
        return OutgoingMessage(
            idempotency_key=f"notice:{event_id}:{recipient}",
            kind="report_ready",
            to=[recipient],
            subject=subject,
            text=text,
        )
