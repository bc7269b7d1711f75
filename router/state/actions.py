"""Runbook actions that wait for a person: the signed link of their button in the page
email, and pressing it (from that link or the console), which queues the action once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from router.core.incidents import Incident
from router.core.rules import Rules
from router.core.rules.pipelines import WebhookAction
from router.state import keys
from router.state.store import entry, timeline_key
from router.state.timers import Timer, fire_now

_SALT = "router-action"


@dataclass(frozen=True)
class ButtonClaim:
    incident: str
    index: int
    recipient: str


class ButtonInvalid(Exception):
    """`reason`: "tampered" or "expired"."""


def button_token(secret: bytes, incident_id: str, index: int, recipient: str) -> str:
    token: str = URLSafeTimedSerializer(secret, salt=_SALT).dumps([incident_id, index, recipient])
    return token


def read_button(secret: bytes, token: str, max_age_s: int) -> ButtonClaim:
    try:
        incident_id, index, recipient = URLSafeTimedSerializer(secret, salt=_SALT).loads(
            token, max_age=max_age_s
        )
    except SignatureExpired:
        raise ButtonInvalid("expired") from None
    except (BadSignature, ValueError, TypeError):
        raise ButtonInvalid("tampered") from None
    return ButtonClaim(str(incident_id), int(index), str(recipient))


def confirm_action(rules: Rules, incident: Incident, index: int) -> WebhookAction | None:
    actions = rules.pipelines[incident.pipeline].actions.get(incident.type, [])
    action = actions[index] if 0 <= index < len(actions) else None
    return action if isinstance(action, WebhookAction) and action.confirm else None


def request(
    client: redis.Redis, incident: Incident, index: int, by: str, now: datetime, lease_s: float
) -> str | None:
    """Queue the action once: the marker, the timeline line and the fire task in one
    MULTI (WATCHed: two presses at once queue it once). Who had pressed it, if someone
    had; None when this press queued it."""
    marker = keys.action_requested(incident.id, index)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(marker)  # type: ignore[no-untyped-call]
                earlier = pipe.get(marker)
                if earlier is not None:
                    return earlier.decode() if isinstance(earlier, bytes) else str(earlier)
                pipe.multi()
                pipe.set(marker, by, ex=30 * 86400)
                said = entry(now, "action requested", by=by, index=index)
                pipe.rpush(timeline_key(incident.id), said)
                timer = Timer(kind="action", incident=incident.id, round=index, step=0)
                fire_now(pipe, [timer], now.timestamp(), lease_s)
                pipe.execute()
                return None
            except redis.WatchError:
                continue
