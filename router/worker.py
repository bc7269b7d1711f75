"""The Celery app: one task per batch of events, one per due timer, and the notices.

Tasks are `acks_late`: a worker that dies mid-task leaves the message to be delivered
again, and every send is guarded by its idempotency marker.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

from celery import Celery, bootsteps

from router.runtime import Runtime

log = logging.getLogger(__name__)
HEARTBEATS = "ar:workers"
HEARTBEAT_EVERY_S = 5.0


def create_celery(runtime: Callable[[], Runtime], broker_url: str) -> Celery:
    """`runtime` is called lazily, once per process, so the app can be made before fork.

    Tasks are not `shared`: each app (a test makes several) keeps its own closures.
    """
    app = Celery("alert-router", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_default_queue="alert-router",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    holder: dict[str, Runtime] = {}

    def current() -> Runtime:
        if "runtime" not in holder:
            holder["runtime"] = runtime()
        return holder["runtime"]

    # A failed batch is retried whole: events already folded are skipped (router.store).
    @app.task(
        name="router.ingest",
        shared=False,
        autoretry_for=(Exception,),
        retry_backoff=True,
        retry_backoff_max=600,
        max_retries=50,
    )
    def ingest(items: list[dict[str, Any]]) -> int:
        rt = current()
        outcomes = rt.engine.ingest(items, rt.clock.now())
        return len(outcomes)

    @app.task(name="router.fire", shared=False)
    def fire(member: str) -> str:
        rt = current()
        said = rt.engine.fire(member, rt.clock.now())
        log.info("timer %s: %s", member, said)
        return said

    @app.task(name="router.resolved", shared=False)
    def resolved(incident_id: str) -> int:
        rt = current()
        sent: int = rt.engine.announce_resolved(incident_id, rt.clock.now())
        return sent

    @app.task(name="router.handoff", shared=False)
    def handoff(start_iso: str) -> list[str]:
        rt = current()
        return rt.engine.send_handoff(start_iso, rt.clock.now())

    class Heartbeat(bootsteps.StartStopStep):
        """Writes this worker's last sign of life for /readyz."""

        requires = ("celery.worker.components:Timer",)

        def start(self, worker: Any) -> None:
            name = f"{socket.gethostname()}:{id(worker)}"

            def beat() -> None:
                rt = current()
                rt.redis.zadd(HEARTBEATS, {name: rt.clock.now().timestamp()})

            beat()
            self.tref = worker.timer.call_repeatedly(HEARTBEAT_EVERY_S, beat)

        def stop(self, worker: Any) -> None:
            tref = getattr(self, "tref", None)
            if tref is not None:
                tref.cancel()

    app.steps["worker"].add(Heartbeat)
    return app
