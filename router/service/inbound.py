"""Replies to page emails, by SendGrid's Inbound Parse (router.api.inbound) or by SMTP
(`router inbound`, router.processes.inbound): a reply whose References carry a page's
token (router.core.replies), sent From that page's recipient, whose first unquoted line
says `ack` or `resolve`, acknowledges or resolves the incident as that engineer. Any
other mail is ignored and logged, and never acts; acting twice changes nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Literal

from router.core.replies import answered, command
from router.service.acting import act, already_done
from router.service.runtime import Runtime

log = logging.getLogger(__name__)

Result = Literal["acknowledged", "resolved", "unchanged", "ignored"]


@dataclass(frozen=True)
class Reply:
    sender: str
    """Its From."""
    references: tuple[str, ...]
    """Its In-Reply-To and References."""
    text: str
    """Its plain-text body."""

    @classmethod
    def of(cls, message: EmailMessage) -> Reply:
        body = message.get_body(("plain",))
        text = body.get_content() if isinstance(body, EmailMessage) else ""
        refs = tuple(str(message.get(name, "")) for name in ("In-Reply-To", "References"))
        return cls(str(message.get("From", "")), refs, str(text))


def act_on_reply(runtime: Runtime, reply: Reply) -> tuple[Result, str]:
    """What the reply did, and why (for the log and the sender's answer)."""
    secret = runtime.settings.secret_key.get_secret_value().encode()
    page = answered(reply.references, secret)
    if page is None:
        return _ignored("it answers no page of this router")
    rules = runtime.current_rules()
    engineers = {person.name: person for person in rules.team.engineers}
    person = engineers.get(page.recipient)
    if person is None:
        return _ignored(f"{page.recipient} is not an engineer now")
    sender = parseaddr(reply.sender)[1].lower()
    if sender != str(person.email).lower():
        return _ignored(f"it is from {sender or 'nobody'}, not from the address paged")
    action = command(reply.text)
    if action is None:
        return _ignored("its first line is neither ack nor resolve")
    store = runtime.engine.store
    incident = store.get(page.incident)
    if incident is None:
        return _ignored(f"no incident {page.incident}")
    if already_done(incident, action):
        return "unchanged", f"the incident is {incident.status} already"
    by = f"{page.recipient} (email reply)"
    acted = act(runtime, incident, action, by)
    if not acted.changed:  # someone acted in the meantime
        return "unchanged", f"the incident is {acted.incident.status} already"
    result: Result = "acknowledged" if action == "acknowledge" else "resolved"
    log.info("email reply: incident %s %s by %s", incident.id, result, page.recipient)
    return result, f"{result} by {by}"


def _ignored(why: str) -> tuple[Result, str]:
    log.info("email reply ignored: %s", why)
    return "ignored", why
