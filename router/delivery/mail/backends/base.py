"""The one interface every email backend implements; the worker never knows which it has.

`send` returns when the message is accepted. It raises `DeliveryFailed(permanent=True)`
for a message that will never go (refused address, rejected request): the failure is
recorded on the incident and escalation goes on. `DeliveryFailed(permanent=False)` or
any other exception is transient: the timer tries again after a back-off. One call is
one attempt, bounded by the backend's timeout.

`fence(needed_s)` is called right before the step that commits the send (the last
moment it can still be taken back) and may raise LeaseLost: then nothing is sent
(router.state.sendonce). `then`: the To of the message expected next, which a backend
may begin ahead (SMTP's PIPELINING); the others take no notice of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from router.core.message import OutgoingMessage
from router.state.sendonce import DeliveryFailed as DeliveryFailed
from router.state.sendonce import Fence, unfenced


class EmailBackend(Protocol):
    name: str

    def send(
        self,
        message: OutgoingMessage,
        sender: str,
        sent_at: datetime,
        fence: Fence = unfenced,
        then: Sequence[str] = (),
    ) -> None: ...
