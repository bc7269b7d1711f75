"""kombu's Redis transport, made safe for a Redis that goes away mid-task.

Two changes, both for a channel whose connection was lost (kombu 5.7 raises an
AttributeError from `_connparams` there, which stops the worker for good):

- closing it does not push its unacknowledged messages back itself (that cannot reach
  Redis anyway);
- acknowledging or rejecting a message it delivered does nothing.

Either way the message stays in kombu's `unacked` hash, and the visibility-timeout sweep
(router.processes.worker) returns it to its queue; running a task again is harmless (folds are
skipped when seen, sends are guarded by their markers).
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

log = logging.getLogger(__name__)
TRANSPORT = "router.queue.broker:Transport"


class Channel(kombu_redis.Channel):
    do_restore = False

    def _connection_lost(self) -> bool:
        return bool(self.closed) or getattr(self.connection, "client", None) is None

    def basic_ack(self, delivery_tag: object, multiple: bool = False) -> None:
        if self._connection_lost():
            log.warning("ack after the broker connection was lost: redelivered later")
            return
        super().basic_ack(delivery_tag, multiple=multiple)  # type: ignore[no-untyped-call]

    def basic_reject(self, delivery_tag: object, requeue: bool = False) -> None:
        if self._connection_lost():
            log.warning("reject after the broker connection was lost: redelivered later")
            return
        super().basic_reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]


class Transport(kombu_redis.Transport):
    Channel = Channel
