"""Notices from templates: `templates/push/{name}.txt`, whose first line is `Title: ...`.

A page's push carries what its email's first lines do, and the same signed Acknowledge
link for its recipient (router.delivery.mail.compose)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from router.core.incidents import Incident
from router.delivery.channels.base import Notice, NoticeKind, Tone
from router.delivery.mail.compose import Composer
from router.state.stream import ChatLine, is_window_stream


class NoticeComposer:
    def __init__(self, composer: Composer, templates_dir: Path) -> None:
        """`templates_dir`: the push templates (templates/push)."""
        self.composer = composer
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def notice(
        self, name: str, kind: NoticeKind, context: dict[str, Any], key: str, tone: Tone
    ) -> Notice:
        text = self.env.get_template(f"{name}.txt").render(**context)
        first, _, body = text.partition("\n")
        if not first.startswith("Title: "):
            raise ValueError(f"template {name}.txt must start with a 'Title: ' line")
        title = " ".join(first.removeprefix("Title: ").split())
        return Notice(idempotency_key=key, kind=kind, title=title, body=body.strip(), tone=tone)

    def page(
        self,
        incident: Incident,
        recipient: str,
        index: int,
        now: datetime,
        key: str,
        tone: Tone,
    ) -> Notice:
        context = self.composer.incident_context(incident, recipient, index, now)
        notice = self.notice("page", "push", context, key, tone)
        if incident.status != "triggered":
            return notice
        button = self.composer.push_acknowledge_url(incident, recipient, now)
        return notice.model_copy(update={"acknowledge_url": button})

    def chat(self, line: ChatLine, key: str) -> Notice:
        name, context = self._chat_context(line)
        return self.notice(name, "chat", context, key, "info")

    def chat_status(self, line: ChatLine) -> str:
        """What the line says changed, alone ("Acknowledged by Kshama Kumar"): a reply in
        a Slack thread, whose first message names the incident."""
        if is_window_stream(line.incident):
            return line.summary
        _, context = self._chat_context(line)
        return self.env.get_template("chat_status.txt").render(**context).strip()

    def chat_url(self, line: ChatLine) -> str:
        """Where the console shows what the line is about."""
        public_url = self.composer.public_url
        if is_window_stream(line.incident):  # a maintenance window's start or end
            return f"{public_url}/maintenance"
        return f"{public_url}/incidents/{line.incident}"

    def _chat_context(self, line: ChatLine) -> tuple[str, dict[str, Any]]:
        if is_window_stream(line.incident):
            return "chat_maintenance", {"text": line.summary, "console_url": self.chat_url(line)}
        context = {
            **line.model_dump(),
            "pipeline": self.composer.rules.pipeline(line.pipeline),
            "console_url": self.chat_url(line),
        }
        return "chat", context

    def test(self, recipient: str, method: str, by: str, key: str) -> Notice:
        context = {"recipient": recipient, "method": method, "by": by}
        return self.notice("test", "test", context, key, "info")
