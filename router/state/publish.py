"""Task messages written straight into the broker's queues.

Celery's own publish (`send_task` → kombu producer pool → one LPUSH) costs about a
millisecond and a thread per call; the API and the fold queue many small tasks. kombu's
Redis transport keeps a queue as a Redis list of JSON envelopes and a worker BRPOPs
them, so a message built here (Celery's task protocol 2, the envelope kombu's
`Channel.basic_publish` writes, checked against it in tests/test_publish.py) can be
LPUSHed by any Redis client: a pipeline, a MULTI transaction (so a task travels with the
fold that causes it), or the API's asyncio connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
from typing import NamedTuple

import orjson
import redis
import redis.asyncio
import redis.asyncio.sentinel

from router.queue.tasks import AsyncSend, Send, TaskArgument
from router.state import ledger
from router.state.connect import async_client
from router.state.ids import unique_uuid
from router.state.pipe import Pipe
from router.state.replication import asked, online_replicas, shortfall
from router.state.watch import EVERY_S

log = logging.getLogger(__name__)

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"router@{os.uname().nodename}"


class TaskMessage(NamedTuple):
    task_id: str
    delivery_tag: str
    """kombu's key for it in `unacked` while a worker holds it."""
    data: bytes


def task_message(task: str, argument: TaskArgument, queue: str) -> TaskMessage:
    """One task with one positional argument, as kombu stores it in the list `queue`."""
    task_id, delivery_tag = unique_uuid(), unique_uuid()
    body = orjson.dumps([[argument], {}, _EMBED])
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": f"[{len(argument)} item(s)]" if isinstance(argument, list) else "[batch]",
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": delivery_tag,
        },
    }
    return TaskMessage(task_id, delivery_tag, orjson.dumps(envelope))


def publish(pipe: Pipe, task: str, argument: TaskArgument, queue: str) -> None:
    """Queue a task on a Redis client, pipeline or MULTI transaction."""
    pipe.lpush(queue, task_message(task, argument, queue).data)


def redis_sender(client: redis.Redis) -> Send:
    """The synchronous `Send`: one LPUSH a task."""

    def send(task: str, argument: TaskArgument, queue: str) -> object:
        publish(client, task, argument, queue)
        return None

    return send


class LoopRedis:
    """One asyncio Redis connection pool per event loop (a pool cannot move between
    loops, and tests run several), for the API's endpoints that must not block."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}
        self.replicas_online = 0

    def __call__(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [old for old in self._clients if old.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = async_client(self.redis_url)
        return client

    async def follow(self, stop: asyncio.Event, count_replicas: bool) -> None:
        """Until `stop`, once a second (router.state.watch does the same for a process's
        other clients): for a Sentinel URL, ask the Sentinels for the master, and this
        loop's pool drops its idle connections to an old one at once; with
        `count_replicas`, note how many replicas are in sync (`replicas_online`)."""
        while not stop.is_set():
            client = self()
            pool = client.connection_pool
            watched = isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool)
            if not watched and not count_replicas:
                return
            try:
                if isinstance(pool, redis.asyncio.sentinel.SentinelConnectionPool):
                    await pool.get_master_address()  # type: ignore[no-untyped-call]
                if count_replicas:
                    self.replicas_online = online_replicas(await client.info("replication"))
            except redis.RedisError as error:  # no master now: ask again
                log.debug("redis watch: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EVERY_S)

    async def close(self) -> None:
        """Close this loop's pool (the API's lifespan calls it at shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()


_Waiting = tuple[str, TaskMessage, "asyncio.Future[object]"]


class GroupSender:
    """The API's `AsyncSend`: the LPUSHes that requests on one event loop ask for while
    a write is being prepared go to Redis together, in one pipelined round trip (group
    commit). Each request still awaits its own reply, so a 202 still means its task is
    on the queue; a failure fails every request of the group, and each answers 503.
    Under load a round trip per request cost the API as much as the rest of a
    one-event request (docs/performance.md)."""

    def __init__(self, clients: LoopRedis, min_replicas: int = 0, wait_ms: int = 1000) -> None:
        """`min_replicas`: replicas that must confirm a group's tasks (WAIT, at most
        `wait_ms`) before its requests hear that they are queued; the batches are then
        also kept until folded (router.state.ledger)."""
        self.clients, self.min_replicas, self.wait_ms = clients, min_replicas, wait_ms
        self._groups: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self._writing: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly

    async def __call__(self, task: str, argument: TaskArgument, queue: str) -> object:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        group = self._groups.get(loop)
        if group is None:
            group = self._groups[loop] = []
            # the write starts once the loop has run what is ready: requests read by then
            # join this group
            writing = loop.create_task(self._write(loop))
            self._writing.add(writing)
            writing.add_done_callback(self._writing.discard)
        group.append((queue, task_message(task, argument, queue), future))
        return await future

    async def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        group = self._groups.pop(loop)
        try:
            async with self.clients().pipeline(transaction=False) as pipe:
                for queue, message, _ in group:
                    pipe.lpush(queue, message.data)
                if self.min_replicas:  # on the same connection: it waits for these writes
                    for queue, message, _ in group:
                        ledger.keep(pipe, *message, queue=queue)
                    wanted = asked(self.min_replicas, self.clients.replicas_online)
                    pipe.execute_command("WAIT", wanted, self.wait_ms)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as error:  # every waiting request hears it, cancelled too
            for _, _, future in group:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        shortfall = self._shortfall(replies.pop()) if self.min_replicas else None
        replies = replies[: len(group)]  # the LPUSHes' (the ledger's follow)
        for (_, _, future), reply in zip(group, replies, strict=True):
            if future.done():
                continue  # its request went away
            if shortfall is not None:
                future.set_exception(shortfall)
            elif isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _shortfall(self, confirmed: object) -> Exception | None:
        if isinstance(confirmed, Exception):
            return confirmed
        return shortfall(confirmed, self.min_replicas, self.wait_ms)


def async_sender(clients: LoopRedis, min_replicas: int = 0, wait_ms: int = 1000) -> AsyncSend:
    """The API's `AsyncSend` (GroupSender)."""
    return GroupSender(clients, min_replicas, wait_ms)
