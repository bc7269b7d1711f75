"""Signed, expiring action links for email: bound to an incident, a recipient, an action.

token = base64url(json payload) "." base64url(HMAC-SHA256(secret key, payload)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

LinkAction = Literal["acknowledge", "resolve"]


class LinkInvalid(Exception):
    """`reason` is "tampered" or "expired": what the recipient is told."""

    def __init__(self, reason: Literal["tampered", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


class LinkClaim(BaseModel):
    model_config = ConfigDict(frozen=True)

    incident: str
    recipient: str
    action: LinkAction
    expires_ts: int


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()


def sign(claim: LinkClaim, secret: bytes) -> str:
    payload = claim.model_dump_json().encode()
    return f"{b64(payload)}.{b64(_mac(secret, payload))}"


def verify(token: str, secret: bytes, now: datetime) -> LinkClaim:
    try:
        payload_part, mac_part = token.split(".")
        payload, mac = unb64(payload_part), unb64(mac_part)
    except ValueError:
        raise LinkInvalid("tampered") from None
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise LinkInvalid("tampered")
    try:
        claim = LinkClaim.model_validate(json.loads(payload))
    except (ValueError, ValidationError):
        raise LinkInvalid("tampered") from None
    if now.timestamp() >= claim.expires_ts:
        raise LinkInvalid("expired")
    return claim
