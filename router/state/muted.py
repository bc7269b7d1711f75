"""The incidents a maintenance window's occurrence kept from paging (`keys.muted`, written
with each fold or hold that muted one: router.state.writer), and their `unmute` timers
moved to now when the occurrence ends early or is summed up (router.core.fold.plan_unmute
decides each again; one no longer muted is left as it is)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import redis

from router.state import keys
from router.state.pipe import Pipe
from router.state.timers import Timer, schedule_all_in


class _Reads(Protocol):
    def smembers(self, name: str) -> object: ...


def muted_by(client: _Reads, window_id: str, since_ts: float) -> list[str]:
    """The incident ids, sorted (a client, or a pipeline under WATCH)."""
    members = client.smembers(keys.muted(window_id, since_ts))
    assert isinstance(members, set)
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)


def unmute_timer(incident_id: str) -> Timer:
    return Timer(kind="unmute", incident=incident_id, round=0, step=0)


def unmute_now_on(pipe: Pipe, incident_ids: Sequence[str], now: datetime) -> None:
    schedule_all_in(pipe, {unmute_timer(i): now.timestamp() for i in incident_ids})


def unmute_now(client: redis.Redis, incident_ids: Sequence[str], now: datetime) -> None:
    if incident_ids:
        with client.pipeline() as pipe:
            unmute_now_on(pipe, incident_ids, now)
            pipe.execute()
