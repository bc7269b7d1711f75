"""The few Slack Web API methods the router calls, through slack_sdk's WebClient, with
what their failures mean: one attempt per call (the SDK's retries are off; the caller's
timer retries), a refusal permanent, a rate limit or a server error transient.

The base URL is ROUTER_SLACK_API_URL (tests point it at a local server). slack_sdk logs
its requests at DEBUG with the Authorization header redacted; the token is never in an
error this module raises.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from router.state.sendonce import DeliveryFailed

log = logging.getLogger(__name__)
_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
              "request_timeout"}  # fmt: skip
"""Errors Slack answers with ok=false that may pass; every other one is a refusal
(channel_not_found, not_in_channel, invalid_auth, ...)."""


def failure_of(error: Exception) -> DeliveryFailed:
    """A failed call as a send's failure: permanent only when Slack refused it."""
    if not isinstance(error, SlackApiError):  # no connection, a timeout: may pass
        return DeliveryFailed(f"Slack: {type(error).__name__}: {error}", permanent=False)
    response = error.response
    said = str(response.get("error") or f"HTTP {response.status_code}")
    retry_after_s = float(response.headers.get("Retry-After", 0) or 0)
    transient = response.status_code == 429 or response.status_code >= 500 or said in _TRANSIENT
    return DeliveryFailed(f"Slack: {said}", permanent=not transient, retry_after_s=retry_after_s)


_LOOKUP_TIMEOUT_S = 1
"""users.info answers a press, which Slack waits 3 s for (the connect and the read get
this each; the press's own write and its replicas' confirmation come after)."""


class SlackApi:
    def __init__(self, token: str, base_url: str, timeout_s: float) -> None:
        self.timeout_s = max(1, math.ceil(timeout_s))  # the SDK takes whole seconds
        self.client = WebClient(
            token=token, base_url=base_url, timeout=self.timeout_s, retry_handlers=[]
        )
        self.quick = WebClient(
            token=token, base_url=base_url, timeout=_LOOKUP_TIMEOUT_S, retry_handlers=[]
        )

    def post(
        self, channel: str, text: str, blocks: Sequence[Block], thread_ts: str | None = None
    ) -> tuple[str, str]:
        """Posts a message (a reply in the thread of `thread_ts`); its channel id and ts."""
        answer = self.client.chat_postMessage(
            channel=channel,
            text=text,
            blocks=list(blocks) or None,
            thread_ts=thread_ts,
            unfurl_links=False,
        )
        return str(answer["channel"]), str(answer["ts"])

    def update(self, channel_id: str, ts: str, text: str, blocks: Sequence[Block]) -> None:
        self.client.chat_update(channel=channel_id, ts=ts, text=text, blocks=list(blocks))

    def ephemeral(self, channel_id: str, user_id: str, text: str) -> None:
        """A line only `user_id` sees, in the channel they pressed a button in."""
        self.quick.chat_postEphemeral(channel=channel_id, user=user_id, text=text)

    def email_of(self, user_id: str) -> str | None:
        """The Slack user's email (users.info, scope users:read.email); None if hidden or
        Slack knows no such user. Raises DeliveryFailed when Slack could not answer."""
        try:
            answer = self.quick.users_info(user=user_id)
        except Exception as error:
            failure = failure_of(error)
            if not failure.permanent:
                raise failure from error
            if str(failure) != "Slack: user_not_found":  # missing_scope, invalid_auth: setup
                log.warning("Slack users.info refused: %s (check the app's scopes)", failure)
            return None
        user = answer.get("user") or {}
        email = (user.get("profile") or {}).get("email")
        if not email and not user.get("is_bot"):
            # users.info leaves the email out, without an error, for an app without
            # users:read.email: everyone without a slack_id would be refused unexplained.
            log.warning("Slack gave no email for %s (the app needs users:read.email)", user_id)
        return str(email) if email else None
