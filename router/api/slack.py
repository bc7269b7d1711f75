"""The Slack app's requests: button presses (POST /v1/slack/interactions, the app's
Interactivity Request URL) and the `/oncall` slash command (POST /v1/slack/commands).

Each request is checked against SLACK_SIGNING_SECRET with slack_sdk's SignatureVerifier
(`X-Slack-Signature` over the raw body and `X-Slack-Request-Timestamp`, which must be
within five minutes of the router's clock); anything else is a 401 and changes nothing.
Without the secret both routes are off (404). A press acts once: its marker is set before
it acts, so a delivery Slack retries (`X-Slack-Retry-Num`) finds it and does nothing; a
press whose handling fails lets its marker go (one that acted is then found done by its
incident's state). What the presser is told (a refusal, "already acknowledged by ...")
goes after the answer, as Slack waits 3 s for it.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_sdk.signature import Clock, SignatureVerifier
from starlette.background import BackgroundTask

from router.api.deps import state_of
from router.api.errors import error_body
from router.config.clock import Clock as RouterClock
from router.core.links import LinkAction
from router.core.rotation import shifts_between
from router.delivery.slack.api import SlackApi
from router.delivery.slack.compose import ACTIONS
from router.service.runtime import Runtime
from router.service.slack import Press, act_on_press, oncall_answer
from router.state import slack
from router.state.sendonce import DeliveryFailed

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


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


async def _signed_form(request: Request, runtime: Runtime) -> dict[str, str] | JSONResponse:
    """The form Slack signed (each field's first value), or the answer that refuses it."""
    secret = runtime.settings.slack_signing_secret
    if secret is None:
        return JSONResponse(error_body(404, "Slack is off: no SLACK_SIGNING_SECRET"), 404)
    body = await request.body()
    verifier = SignatureVerifier(secret.get_secret_value(), _RouterTime(runtime.clock))
    try:
        valid = verifier.is_valid_request(body, dict(request.headers))
    except ValueError:  # a timestamp that is not a number
        valid = False
    if not valid:
        log.warning("Slack request refused: signature invalid or older than five minutes")
        message = "not signed by Slack, or older than five minutes: nothing was changed"
        return JSONResponse(error_body(401, message), 401)
    form = parse_qs(body.decode("utf-8", "replace"))
    return {name: values[0] for name, values in form.items()}


@router.post("/v1/slack/interactions")
async def interactions(request: Request) -> Any:
    runtime = state_of(request).runtime
    form = await _signed_form(request, runtime)
    if isinstance(form, JSONResponse):
        return form
    try:
        payload = json.loads(form.get("payload", ""))
    except ValueError:
        return JSONResponse(error_body(400, "payload: not JSON"), 400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return {"result": "ignored"}  # other interactions: the app offers none
    try:
        actions = BlockActions.model_validate(payload)
    except ValidationError as error:  # the API's 400, each field under `payload`
        raise RequestValidationError(
            [{**item, "loc": ("payload", *item["loc"])} for item in error.errors()]
        ) from None
    result, tell = await run_in_threadpool(_press, runtime, actions)
    api, channel_id = runtime.slack.api, actions.container.channel_id
    if tell is None or api is None or not channel_id:
        return {"result": result}
    # Told after the answer: Slack waits 3 s for it, and the refusal stands either way.
    later = BackgroundTask(_tell, api, channel_id, actions.user.id, tell)
    return JSONResponse({"result": result}, background=later)


def _press(runtime: Runtime, actions: BlockActions) -> tuple[str, str | None]:
    """What the press did, and what to tell the person who pressed (None: nothing)."""
    action = actions.actions[0]
    if action.action_id not in ACTIONS:
        return "ignored", None
    verb: LinkAction = "acknowledge" if action.action_id == "acknowledge" else "resolve"
    press = Press(actions.user.id, verb, action.value)
    said = (press.user_id, press.action, press.incident_id, action.action_ts)
    if not slack.claim_press(runtime.redis, *said):
        return "repeat", None  # a retry of a press that acted (or is acting)
    api = runtime.slack.api
    try:
        result, words = act_on_press(runtime, press, api.email_of if api else _no_email)
    except DeliveryFailed as error:  # Slack could not say who pressed: nothing was done
        slack.let_go_press(runtime.redis, *said)
        log.warning("Slack press not acted on: %s", error)
        return "failed", "Slack could not tell alert-router who you are: press again."
    except Exception:
        slack.let_go_press(runtime.redis, *said)  # not acted: the press may come again
        raise
    return result, words if result in ("refused", "unchanged") else None


def _tell(api: SlackApi, channel_id: str, user_id: str, words: str) -> None:
    try:
        api.ephemeral(channel_id, user_id, words)
    except Exception as error:
        log.warning("Slack: could not tell %s: %s", user_id, error)


def _no_email(user_id: str) -> None:
    return None  # no SLACK_BOT_TOKEN to ask Slack with: slack_id only


@router.post("/v1/slack/commands")
async def commands(request: Request) -> Any:
    runtime = state_of(request).runtime
    form = await _signed_form(request, runtime)
    if isinstance(form, JSONResponse):
        return form
    command = form.get("command", "")
    if command != "/oncall":
        return {"response_type": "ephemeral", "text": f"alert-router knows /oncall, not {command}"}
    text = await run_in_threadpool(_oncall, runtime)
    return {"response_type": "ephemeral", "text": text}


def _oncall(runtime: Runtime) -> str:
    rules, now = runtime.current_rules(), runtime.clock.now()
    shifts = shifts_between(now, now + timedelta(days=14), rules)
    return oncall_answer(shifts, rules.team.zone)
