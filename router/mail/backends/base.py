"""The one interface every email backend implements; the worker never knows which it has.

`send` returns when the message is accepted. It raises `DeliveryFailed(permanent=True)`
for a message that will never go (refused address, rejected request): the failure is
recorded on the incident and escalation goes on. `DeliveryFailed(permanent=False)` or
any other exception is transient: the timer tries again after a back-off. One call is
one attempt, bounded by the backend's timeout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from router.mail.message import OutgoingMessage


class DeliveryFailed(Exception):
    def __init__(self, message: str, *, permanent: bool, retry_after_s: float = 0.0) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class EmailBackend(Protocol):
    name: str

    def send(self, message: OutgoingMessage, sender: str, sent_at: datetime) -> None: ...
