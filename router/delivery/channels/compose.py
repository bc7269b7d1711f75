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
        public_url = self.composer.public_url
        if is_window_stream(line.incident):  # a maintenance window's start or end
            said = {"text": line.summary, "console_url": f"{public_url}/maintenance"}
            return self.notice("chat_maintenance", "chat", said, key, "info")
        context = {
            **line.model_dump(),
            "pipeline": self.composer.rules.pipeline(line.pipeline),
            "console_url": f"{public_url}/incidents/{line.incident}",
        }
        return self.notice("chat", "chat", context, key, "info")

    def test(self, recipient: str, method: str, by: str, key: str) -> Notice:
        context = {"recipient": recipient, "method": method, "by": by}
        return self.notice("test", "test", context, key, "info")
