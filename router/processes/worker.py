"""The Celery app: one task per batch of events, one per batch of due timers.

Tasks are `acks_late`: a worker that dies mid-task leaves its message unacknowledged,
and the broker hands it out again after `ROUTER_REDELIVER_AFTER_S` (kombu's Redis
`visibility_timeout`, swept every 2 s); a pool child that dies is requeued at once. Every
task is short (a bounded batch, or one send attempt per recipient), folds are skipped
when seen before, and every send is guarded by its idempotency marker, so a task run
twice does nothing twice. A Redis error inside a task requeues it (or, with Redis gone,
leaves it unacknowledged): an accepted event is never dropped. A batch's task is
acknowledged only once ROUTER_REDIS_MIN_REPLICAS replicas hold its fold.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Celery, Task, bootsteps
from celery.exceptions import Reject
from kombu.entity import Queue

from router.queue.broker import broker_of
from router.queue.tasks import (
    FIRE,
    FIRE_SHARE_OF_LEASE,
    INGEST,
    INGEST_QUEUE,
    QUEUES,
    FireResult,
    decode_batch,
)
from router.service.runtime import Runtime
from router.state import keys, ledger
from router.state.deadletters import set_aside_unreadable
from router.state.timers import hand_back

log = logging.getLogger(__name__)
HEARTBEATS = keys.HEARTBEATS
HEARTBEAT_EVERY_S = 5.0
_ROUTINE: frozenset[FireResult] = frozenset({"sent", "nothing", "stale", "early", "muted"})
RESTORE_SWEEP_S = 2
UNACKED_MUTEX_S = 10  # a sweep takes milliseconds


def _nothing() -> None:
    pass


def create_celery(
    runtime: Callable[[], Runtime],
    broker_url: str,
    redeliver_after_s: int = 30,
    built: Callable[[], None] = _nothing,
) -> Celery:
    """`runtime` is called lazily, once per process, so the app can be made before fork;
    `built` right after it, in that process (a worker's: router.processes.heap.settle;
    a test running the app in its own process keeps its heap as it is).

    Tasks are not `shared`: each app (a test makes several) keeps its own closures.
    """
    broker = broker_of(broker_url)
    app = Celery("alert-router", broker=broker.url, set_as_current=False)
    app.conf.update(
        broker_transport=broker.transport,
        broker_use_ssl=broker.use_ssl,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue=INGEST_QUEUE,
        broker_transport_options={
            "visibility_timeout": redeliver_after_s,
            "unacked_restore_interval": RESTORE_SWEEP_S,
            "unacked_restore_throttle": 1,
            # The sweep's lock (kombu's default 300 s): a master lost while a worker held
            # it leaves it on the new master, and no message came back for 5 minutes.
            "unacked_mutex_expire": UNACKED_MUTEX_S,
            "queue_order_strategy": "priority",  # router.urgent first, always
            **broker.options,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a Redis restart must not end the worker
        worker_hijack_root_logger=False,
        task_serializer="json",
        accept_content=["json"],
    )
    holder: dict[str, Runtime] = {}

    def current() -> Runtime:
        if "runtime" not in holder:
            holder["runtime"] = runtime()
            built()
        return holder["runtime"]

    @app.task(name=INGEST, shared=False, bind=True)
    def ingest(task: Task, argument: str | list[dict[str, object]]) -> int:
        rt = current()
        queue = (task.request.delivery_info or {}).get("routing_key")
        decoded = decode_batch(argument, rt.rules)
        try:
            if decoded.unreadable:  # kept before the task is acknowledged: never lost
                set_aside_unreadable(rt.redis, decoded.unreadable, rt.clock.now())
            take_turns = queue == INGEST_QUEUE  # never the urgent lane
            report = rt.engine.intake.ingest(decoded.events, rt.clock.now(), take_turns)
            # on ROUTER_REDIS_MIN_REPLICAS replicas before the task is acknowledged: a
            # failover now must not take the fold with it (run again, it is skipped)
            rt.confirm_writes()
            if rt.settings.redis_min_replicas and task.request.id and not report.failed:
                ledger.folded(rt.redis, task.request.id)  # before the ack: never lost
        except redis.RedisError as error:
            log.warning("ingest: Redis error, the batch goes back to the queue: %s", error)
            raise Reject(str(error), requeue=True) from None
        if report.failed:
            # The events after a failing one are folded already; only the failing ones
            # remain, skipped past `seen` markers, until they fold or become dead letters.
            raise Reject(f"{report.failed} event(s) failed to fold", requeue=True)
        return report.folded

    @app.task(name=FIRE, shared=False)
    def fire(members: list[str] | str) -> list[str]:
        rt = current()
        fired_all: list[str] = []
        members = [members] if isinstance(members, str) else members  # str: before 0.2
        started = time.monotonic()
        budget_s = rt.settings.timer_lease_s * FIRE_SHARE_OF_LEASE
        firing = rt.engine.firing
        try:
            prepared = firing.prepare(members, rt.clock.now())
        except redis.RedisError as error:
            log.warning("fire: Redis error, back to the queue: %s", error)
            raise Reject(str(error), requeue=True) from None
        try:
            for index, member in enumerate(members):
                if time.monotonic() - started > budget_s:
                    # Slow sends (a mail server near its timeout): the rest would be fired
                    # after their leases ran out, so they go back, due now (their claims
                    # let go first, or the worker taking them would find them held).
                    rest = members[index:]
                    firing.let_go(prepared)
                    hand_back(rt.redis, rest, rt.clock.now().timestamp())
                    log.warning("fire: %d timer(s) handed back after %.0f s", len(rest), budget_s)
                    break
                try:
                    prepared = firing.fresh(prepared, members[index:], rt.clock.now())
                    fired = firing.fire(member, rt.clock.now(), prepared)
                except redis.RedisError as error:
                    # The timers fired so far are released or marked sent: run again, they
                    # send nothing twice.
                    log.warning("timer %s: Redis error, back to the queue: %s", member, error)
                    raise Reject(str(error), requeue=True) from None
                # What went as planned is in the incident's timeline and in the task's
                # result, which Celery logs: at debug here; a busy, retried or failed
                # send at info.
                log.log(
                    logging.DEBUG if fired.result in _ROUTINE else logging.INFO,
                    "timer %s: %s",
                    member,
                    fired,
                )
                fired_all.append(str(fired))
        finally:
            firing.let_go(prepared)  # the claims of timers handed back or not reached
        return fired_all

    class Heartbeat(bootsteps.StartStopStep):
        """Writes this worker's last sign of life for /readyz."""

        requires = ("celery.worker.components:Timer",)

        def start(self, worker: Any) -> None:
            name = f"{socket.gethostname()}:{id(worker)}"

            def beat() -> None:
                rt = current()
                try:
                    rt.redis.zadd(HEARTBEATS, {name: rt.clock.now().timestamp()})
                except redis.RedisError:
                    log.warning("heartbeat: Redis unreachable")

            beat()
            self.tref = worker.timer.call_repeatedly(HEARTBEAT_EVERY_S, beat)

        def stop(self, worker: Any) -> None:
            tref = getattr(self, "tref", None)
            if tref is not None:
                tref.cancel()

    app.steps["worker"].add(Heartbeat)
    return app
