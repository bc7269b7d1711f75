"""What the Slack app keeps in Redis: the message that heads each stream's thread
(keys.slack_thread, `{channel id} {ts}`), and the presses that acted (keys.slack_press).
This module owns both values."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import redis

from router.state import keys

_THREAD_KEEP_S = 30 * 86400
_PRESS_KEEP_S = 86400
"""Slack retries a request within minutes; a day is plenty."""


@dataclass(frozen=True)
class Thread:
    channel_id: str
    """The id Slack answered with (chat.update takes ids, not names)."""
    ts: str


def keep_thread(client: redis.Redis, stream: str, thread: Thread) -> None:
    value = f"{thread.channel_id} {thread.ts}"
    client.set(keys.slack_thread(stream), value, ex=_THREAD_KEEP_S)


def thread_of(client: redis.Redis, stream: str) -> Thread | None:
    kept = client.get(keys.slack_thread(stream))
    if kept is None:
        return None
    text = kept.decode() if isinstance(kept, bytes) else str(kept)
    channel_id, _, ts = text.partition(" ")
    return Thread(channel_id, ts)


def _press_key(*said: str) -> str:
    return keys.slack_press(hashlib.sha256("|".join(said).encode()).hexdigest()[:32])


def claim_press(client: redis.Redis, *said: str) -> bool:
    """True for the first delivery of the press `said` (who, what, on what, Slack's
    action_ts); False for a retry of one that acted or is acting."""
    return bool(client.set(_press_key(*said), "1", nx=True, ex=_PRESS_KEEP_S))


def let_go_press(client: redis.Redis, *said: str) -> None:
    """The press did not act: it may come again."""
    client.delete(_press_key(*said))
