"""router.state.publish writes what Celery's own publish writes, so a real worker runs it."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from celery.contrib.testing.worker import start_worker

from router.queue.broker import TRANSPORT
from router.queue.tasks import INGEST_QUEUE, URGENT_QUEUE
from router.state.publish import GroupSender, LoopRedis, publish
from tests.redis_server import RedisServer, session_redis
from tests.stack import wait_until

DB = 11


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = session_redis().client(DB)
    client.flushdb()
    yield client
    client.flushdb()


def _celery() -> Celery:
    app = Celery("publish-test", broker=session_redis().url(DB), set_as_current=False)
    app.conf.update(broker_transport=TRANSPORT, task_ignore_result=True)
    return app


def _envelope(raw: bytes) -> tuple[dict[str, Any], Any]:
    envelope = json.loads(raw)
    return envelope, json.loads(base64.b64decode(envelope["body"]))


@pytest.mark.parametrize("queue", [URGENT_QUEUE, INGEST_QUEUE])
def test_the_message_has_what_celery_writes(client: redis.Redis, queue: str) -> None:
    argument = '{"v":2,"events":[]}'  # an INGEST task carries its batch as one string
    _celery().send_task("router.ingest", args=[argument], queue=queue)
    theirs, their_body = _envelope(client.rpop(queue))  # type: ignore[arg-type]
    publish(client, "router.ingest", argument, queue)
    ours, our_body = _envelope(client.rpop(queue))  # type: ignore[arg-type]

    assert our_body == their_body
    assert set(ours) == set(theirs)
    assert set(ours["headers"]) == set(theirs["headers"])
    assert set(ours["properties"]) <= set(theirs["properties"])  # not reply_to: no results
    assert ours["properties"]["delivery_info"] == theirs["properties"]["delivery_info"]
    for field in ("content-type", "content-encoding"):
        assert ours[field] == theirs[field]
    assert ours["headers"]["task"] == "router.ingest"
    assert ours["headers"]["id"] == ours["headers"]["root_id"] != theirs["headers"]["id"]


def test_a_real_worker_runs_a_published_task(client: redis.Redis) -> None:
    app = _celery()
    ran: list[Any] = []
    done = threading.Event()

    @app.task(name="router.test-echo", shared=False)  # type: ignore[untyped-decorator]
    def echo(argument: Any) -> None:
        ran.append(argument)
        done.set()

    publish(client, "router.test-echo", ["step:i-1:0:2"], URGENT_QUEUE)
    with start_worker(app, pool="solo", perform_ping_check=False, queues=[URGENT_QUEUE]):
        wait_until(done.is_set, what="the published task to run")
    assert ran == [["step:i-1:0:2"]]


def test_sends_awaited_together_go_in_one_round_trip_and_each_hears_its_reply(
    client: redis.Redis,
) -> None:
    """Group commit: twenty requests' tasks, asked for at once, are written in one
    pipeline, on one connection (twenty LPUSHes each awaited alone open twenty)."""

    def connections() -> int:
        return sum(1 for c in client.client_list() if c["db"] == str(DB))

    before = connections()  # this client, and any an earlier test left open

    async def main() -> tuple[list[object], int]:
        send = GroupSender(LoopRedis(session_redis().url(DB)))
        replies = await asyncio.gather(
            *(send("router.ingest", f'{{"n":{n}}}', INGEST_QUEUE) for n in range(20))
        )
        opened = connections() - before
        await send.clients.close()
        return list(replies), opened

    replies, opened = asyncio.run(main())
    assert opened == 1
    assert sorted(int(str(r)) for r in replies) == list(range(1, 21))  # each its own length
    queued: list[bytes] = client.lrange(INGEST_QUEUE, 0, -1)  # type: ignore[assignment]
    bodies = [_envelope(raw)[1][0][0] for raw in queued]
    assert sorted(bodies) == sorted(f'{{"n":{n}}}' for n in range(20))


def test_when_redis_is_gone_every_request_of_the_group_hears_it() -> None:
    """No request of a failed group answers 202: each gets the error (the API's 503)."""
    server = RedisServer().start()
    url = server.url(0)
    server.kill()

    async def main() -> list[BaseException | object]:
        send = GroupSender(LoopRedis(url))
        found = await asyncio.gather(
            *(send("router.ingest", "[]", INGEST_QUEUE) for _ in range(5)),
            return_exceptions=True,
        )
        await send.clients.close()
        return list(found)

    found = asyncio.run(main())
    assert len(found) == 5 and all(isinstance(f, redis.ConnectionError) for f in found)
