"""The team stream's lines posted to Slack, as a channel of the one send-once flow
(router.state.sendonce): a stream's first line heads a thread, whose channel id and ts
are kept (router.state.slack); each later line replies in that thread and updates its
head to the latest state.

The head's update is best effort: the reply it comes with is what was to be said, and
the next line updates the head again. A line whose head was never kept (expired, or a
worker stopped between the post and the write) heads a new thread, not lost. A worker
that stops between the post and that write leaves the line to be sent again after its
lease, marked as a possible repeat, like every channel.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis

from router.delivery.channels.delivery import given_up
from router.delivery.slack.api import SlackApi, failure_of
from router.delivery.slack.compose import SlackMessage, SlackPost
from router.state import slack
from router.state.replication import NO_REPLICAS, Replicas
from router.state.sendonce import Delivery, Failure, Fence, SendOnce

log = logging.getLogger(__name__)


class SlackPoster:
    """Sent and failed lines count in router_messages_* as kind chat, backend slack."""

    counted = True
    name = "slack"

    def __init__(
        self,
        client: redis.Redis,
        api: SlackApi | None,
        lease_s: float,
        max_attempts: int,
        replicas: Replicas = NO_REPLICAS,
    ) -> None:
        """`api`: None without SLACK_BOT_TOKEN (every line fails for good, saying so)."""
        self.redis, self.api, self.max_attempts = client, api, max_attempts
        self.once = SendOnce(client, lease_s, replicas)

    def held(self, payload: SlackPost, now: datetime) -> Delivery | None:
        if self.api is None:
            return Delivery(
                "failed", "team.yaml names a Slack channel but SLACK_BOT_TOKEN is not set"
            )
        return None

    def send(self, payload: SlackPost, now: datetime, fence: Fence) -> str:
        api = self.api
        assert api is not None  # held() refused it otherwise
        thread = slack.thread_of(self.redis, payload.stream)
        if payload.opens and thread is not None:
            return thread.ts  # the head went before (its outcome was lost): not twice
        fence(2 * api.timeout_s)  # the post, then the head's update
        # With no thread kept, the line heads a new one, naming the incident.
        message = payload.posted(as_head=thread is None)
        try:
            channel_id, ts = api.post(
                payload.channel if thread is None else thread.channel_id,
                message.text,
                message.blocks,
                thread_ts=None if thread is None else thread.ts,
            )
        except Exception as error:
            raise failure_of(error) from error
        if thread is None:
            slack.keep_thread(self.redis, payload.stream, slack.Thread(channel_id, ts))
        else:
            self._update_head(api, thread, payload.head)
        return ts

    @staticmethod
    def _update_head(api: SlackApi, thread: slack.Thread, head: SlackMessage) -> None:
        try:
            api.update(thread.channel_id, thread.ts, head.text, head.blocks)
        except Exception as error:  # the reply went: the next line updates the head
            log.warning("Slack: the thread's first message not updated: %s", failure_of(error))

    def failure(
        self, payload: SlackPost, error: Exception, now: datetime, took_s: float
    ) -> Failure:
        return given_up(self.redis, payload.idempotency_key, error, self.max_attempts)

    def worked(self) -> None:
        pass

    def describe(self, payload: SlackPost) -> str:
        return f"chat to Slack {payload.channel}"
