"""The Slack app's requests: button presses (POST /v1/slack/interactions, the app's
Interactivity Request URL) and the `/oncall` slash command (POST /v1/slack/commands).

Each request is checked against SLACK_SIGNING_SECRET with slack_sdk's SignatureVerifier
(`X-Slack-Signature` over the raw body and `X-Slack-Request-Timestamp`, which must be
within five minutes of the router's clock); anything else is a 401 and changes nothing.
Without the secret both routes are off (404). A press acts once: its marker is set before
it acts, so a delivery Slack retries (`X-Slack-Retry-Num`) finds it and does nothing; a
press that fails before acting lets its marker go.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier

from router.api.deps import state_of
from router.api.errors import error_body
from router.config.clock import Clock as RouterClock
from router.core.rotation import shifts_between
from router.delivery.slack.compose import ACTIONS, SlackAction
from router.service.runtime import Runtime
from router.service.slack import Press, act_on_press, oncall_answer
from router.state import keys

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
_PRESS_KEEP_S = 86400


class _SlackUser(BaseModel):
    id: str


class _Action(BaseModel):
    action_id: str
    value: str = ""
    action_ts: str = ""


class _Container(BaseModel):
    channel_id: str = ""


class BlockActions(BaseModel):
    """The part of Slack's `block_actions` payload the router reads."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["block_actions"]
    user: _SlackUser
    actions: list[_Action] = Field(min_length=1)
    container: _Container = Field(default_factory=_Container)


class _RouterTime(Clock):
    """Slack's five minutes counted on the router's clock (tests move it)."""

    def __init__(self, clock: RouterClock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


async def _verified(request: Request, runtime: Runtime) -> bytes | JSONResponse:
    """The raw body if Slack signed it, or the answer that refuses it."""
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        return JSONResponse(error_body(404, "Slack is off: no SLACK_SIGNING_SECRET"), 404)
    body = await request.body()
    verifier = SignatureVerifier(secret.get_secret_value(), _RouterTime(runtime.clock))
    if not verifier.is_valid_request(body, dict(request.headers)):
        log.warning("Slack request refused: signature invalid or older than five minutes")
        message = "not signed by Slack, or older than five minutes: nothing was changed"
        return JSONResponse(error_body(401, message), 401)
    return body


@router.post("/v1/slack/interactions")
async def interactions(request: Request) -> Any:
    runtime = state_of(request).runtime
    body = await _verified(request, runtime)
    if isinstance(body, JSONResponse):
        return body
    raw = parse_qs(body.decode("utf-8", "replace")).get("payload", [""])[0]
    try:
        payload = json.loads(raw)
    except ValueError:
        return JSONResponse(error_body(400, "payload: not JSON"), 400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return {"result": "ignored"}  # other interactions: the app offers none
    try:
        actions = BlockActions.model_validate(payload)
    except ValidationError as error:
        where = ".".join(str(part) for part in error.errors()[0]["loc"])
        return JSONResponse(error_body(400, f"payload.{where}: {error.errors()[0]['msg']}"), 400)
    return await run_in_threadpool(_press, runtime, actions)


def _press(runtime: Runtime, actions: BlockActions) -> dict[str, str]:
    action = actions.actions[0]
    if action.action_id not in ACTIONS:
        return {"result": "ignored"}
    verb: SlackAction = "acknowledge" if action.action_id == "acknowledge" else "resolve"
    press = Press(actions.user.id, verb, action.value)
    marker = keys.slack_press(_digest(press, action.action_ts))
    if not runtime.redis.set(marker, "1", nx=True, ex=_PRESS_KEEP_S):
        return {"result": "repeat"}  # a retry of a press that acted (or is acting)
    api = runtime.slack.api
    try:
        result, said = act_on_press(runtime, press, api.email_of if api else _no_email)
    except Exception:
        runtime.redis.delete(marker)  # not acted: the press may come again
        raise
    if result in ("refused", "unchanged") and api and actions.container.channel_id:
        try:
            api.ephemeral(actions.container.channel_id, press.user_id, said)
        except Exception as error:  # the refusal stands; only its word to them is lost
            log.warning("Slack: could not tell %s: %s", press.user_id, error)
    return {"result": result}


def _no_email(user_id: str) -> None:
    return None  # no SLACK_BOT_TOKEN to ask Slack with: slack_id only


def _digest(press: Press, action_ts: str) -> str:
    said = f"{press.user_id}|{press.action}|{press.incident_id}|{action_ts}"
    return hashlib.sha256(said.encode()).hexdigest()[:32]


@router.post("/v1/slack/commands")
async def commands(request: Request) -> Any:
    runtime = state_of(request).runtime
    body = await _verified(request, runtime)
    if isinstance(body, JSONResponse):
        return body
    form = parse_qs(body.decode("utf-8", "replace"))
    command = form.get("command", [""])[0]
    if command != "/oncall":
        return {"response_type": "ephemeral", "text": f"alert-router knows /oncall, not {command}"}
    text = await run_in_threadpool(_oncall, runtime)
    return {"response_type": "ephemeral", "text": text}


def _oncall(runtime: Runtime) -> str:
    rules, now = runtime.current_rules(), runtime.clock.now()
    shifts = shifts_between(now, now + timedelta(days=14), rules)
    return oncall_answer(shifts, rules.team.zone)
