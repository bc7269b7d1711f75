"""The one interface a channel backend implements, and what it sends.

`send` returns when the service accepted the notice. It raises
`DeliveryFailed(permanent=True)` for one that will never go (the service refused the
request: a 4xx), `DeliveryFailed(permanent=False)` or any other exception for a
transient failure (a 5xx, a timeout, no connection): the timer tries again. One call is
one attempt, bounded by the backend's timeout. `fence(needed_s)` comes right before the
request that commits the send and may raise LeaseLost (router.state.sendonce).
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from router.state.sendonce import Fence, unfenced

NoticeKind = Literal["push", "chat", "test"]
Tone = Literal["high", "low", "info"]


class Notice(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    """(incident, round, step, person, channel), (incident, line) or a test's: sent once."""
    kind: NoticeKind
    title: str
    body: str
    tone: Tone = "info"
    """high and low are a page's urgency; a service shows them as failure and warning."""
    acknowledge_url: str | None = None
    """A page's signed, single-use Acknowledge URL (router.api.push_links): a service
    that shows action buttons (ntfy) offers it as one."""


class ChannelBackend(Protocol):
    name: str

    def send(self, url: str, notice: Notice, fence: Fence = unfenced) -> None: ...
