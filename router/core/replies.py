"""Acting by replying to a page email: the reply's command and the page it answers.

A page email's References hold a token bound to the incident and the engineer paged
(`reply_token`), and a reply's References carry it back (RFC 5322: the parent's
References, then its Message-ID). Its first line that is
not quoted says what to do: `ack` (or `acknowledge`) or `resolve`. Pure: the shell
(router.service.inbound) reads the mail, checks the sender and acts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from router.core.links import LinkAction, b64, unb64

_DOMAIN = "alert-router"
_TOKEN = re.compile(r"<r\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)@" + re.escape(_DOMAIN) + ">")
_COMMANDS: dict[str, LinkAction] = {
    "ack": "acknowledge",
    "acknowledge": "acknowledge",
    "acknowledged": "acknowledge",
    "resolve": "resolve",
    "resolved": "resolve",
}
_QUOTE_HEADER = re.compile(r"^On .+ wrote:$")


@dataclass(frozen=True)
class ReplyTo:
    """The page a reply answers: its incident and the engineer it was sent to."""

    incident: str
    recipient: str


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, b"reply:" + payload, hashlib.sha256).digest()[:16]


def reply_token(page: ReplyTo, secret: bytes) -> str:
    """The id, in message-id form, an incident's email to an engineer lists in its
    References: signed, bound to the incident and the engineer."""
    payload = json.dumps([page.incident, page.recipient], separators=(",", ":")).encode()
    return f"<r.{b64(payload)}.{b64(_mac(secret, payload))}@{_DOMAIN}>"


def answered(headers: Iterable[str], secret: bytes) -> ReplyTo | None:
    """The page a reply answers, from its In-Reply-To and References values: the first
    token whose signature holds; None when none does."""
    for value in headers:
        for payload_part, mac_part in _TOKEN.findall(value or ""):
            try:
                payload, mac = unb64(payload_part), unb64(mac_part)
            except ValueError:
                continue
            if not hmac.compare_digest(mac, _mac(secret, payload)):
                continue
            try:
                incident, recipient = json.loads(payload)
            except ValueError:
                continue
            if isinstance(incident, str) and isinstance(recipient, str):
                return ReplyTo(incident, recipient)
    return None


def command(text: str) -> LinkAction | None:
    """What the reply asks: its first line that is not quoted, or None."""
    for line in text.splitlines():
        said = line.strip()
        if not said:
            continue
        if said.startswith(">") or _QUOTE_HEADER.match(said):
            return None
        word = said.split()[0].rstrip(".!,").lower()
        return _COMMANDS.get(word)
    return None
