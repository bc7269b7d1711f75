"""kombu's Redis transport, made safe for a Redis that goes away mid-task.

For a channel whose connection was lost (kombu 5.7 raises an AttributeError from
`_connparams` there, which stops the worker for good):

- closing it does not push its unacknowledged messages back itself (that cannot reach
  Redis anyway);
- acknowledging or rejecting a message it delivered does nothing.

For a master that refuses writes for now: NOREPLICAS (fewer replicas than
`min-replicas-to-write`, as right after a failover until the replicas follow the new
master), READONLY, MASTERDOWN, OOM. kombu counts a ResponseError a channel error, and
Celery stops the worker for good at one ("Unrecoverable error: ResponseError"; the
failover soak found both workers gone after its first SENTINEL FAILOVER, refused a
BRPOP, and a worker started then is refused its queue bindings). The commands are
kombu's own, so such a reply is the server's state, never a malformed command: here it
is a connection error, and Celery connects again (to the master the Sentinels name by
then) until the server takes writes, at most once a second.

Either way the message stays in kombu's `unacked` hash, and the visibility-timeout sweep
(router.processes.worker) returns it to its queue; running a task again is harmless (folds are
skipped when seen, sends are guarded by their markers).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote

import redis
import redis.sentinel
from kombu.transport import redis as kombu_redis

from router.config.redis_url import (
    CONNECT_TIMEOUT_S,
    SENTINEL_TIMEOUT_S,
    SOCKET_TIMEOUT_S,
    is_sentinel,
    sentinels_of,
)

log = logging.getLogger(__name__)
TRANSPORT = "router.queue.broker:Transport"
SENTINEL_TRANSPORT = "router.queue.broker:SentinelTransport"
FOLLOW_EVERY_S = 1.0


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


# An error reply to one of kombu's own commands is the server's state, not a bad command:
# see the module's docstring.
CONNECTION_ERRORS = (*kombu_redis.Transport.connection_errors, redis.ResponseError)


class Transport(kombu_redis.Transport):
    Channel = Channel
    connection_errors = CONNECTION_ERRORS


class _FollowingPool(redis.sentinel.SentinelConnectionPool):
    """Asks the Sentinels for the master when a connection is taken, at most once every
    FOLLOW_EVERY_S, which drops the idle connections to an old one (redis-py's
    `get_master_address`). kombu keeps two pools per channel: BRPOP's, and the one that
    writes a delivered message into `unacked` and acknowledges it. Only a new
    connection asked the Sentinels, so after a failover BRPOP's new connection took
    messages from the new master while the other pool's idle connection still wrote
    `unacked` to the old one, where the failover soak lost them (a planned failover's
    paused master held that write until it was demoted)."""

    asked_at = float("-inf")

    def get_connection(self, *args: object, **kwargs: object) -> redis.Connection:
        now = time.monotonic()
        if now - self.asked_at >= FOLLOW_EVERY_S:
            self.asked_at = now
            with contextlib.suppress(redis.ConnectionError):  # connecting will say
                self.get_master_address()  # type: ignore[no-untyped-call]
        connection: redis.Connection = super().get_connection(*args, **kwargs)
        return connection


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """The same, on a master found through its Sentinels (kombu's sentinel transport),
    with pools that follow it (`_FollowingPool`)."""

    def _sentinel_managed_pool(self, asynchronous: bool = False) -> _FollowingPool:
        pool: _FollowingPool = super()._sentinel_managed_pool(asynchronous)  # type: ignore[no-untyped-call]
        pool.__class__ = _FollowingPool  # kombu builds it; only get_connection differs
        return pool


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
    connection_errors = CONNECTION_ERRORS


@dataclass(frozen=True)
class Broker:
    """Celery's broker settings for REDIS_URL."""

    url: str
    transport: str
    options: dict[str, object]
    """What goes into broker_transport_options besides the router's own."""
    use_ssl: dict[str, object] | bool = False


# A broker that stops answering without closing the connection (its host cut off; see
# celery#6348): a command fails after socket_timeout, and kombu drops a BRPOP whose
# reply is overdue by health_check_interval (kombu 5.7), so the worker connects again,
# to the new master, within seconds. socket_timeout must exceed kombu's 1 s BRPOP.
TIMEOUTS: dict[str, object] = {
    "socket_timeout": SOCKET_TIMEOUT_S,
    "socket_connect_timeout": CONNECT_TIMEOUT_S,
    "socket_keepalive": True,
    "health_check_interval": 2,
}


def broker_of(redis_url: str) -> Broker:
    """A plain URL as it is; a Sentinel URL as kombu's sentinel transport takes it: one
    `sentinel://` URL a Sentinel, joined by `;`, and the master's name as `master_name`.
    The Sentinels get their own short timeouts: kombu hands them none of the master's
    when `sentinel_kwargs` is set, and one that does not answer must not hold the rest."""
    if not is_sentinel(redis_url):
        return Broker(redis_url, TRANSPORT, dict(TIMEOUTS))
    where = sentinels_of(redis_url)
    password = f":{quote(where.password, safe='')}@" if where.password else ""
    hosts = ";".join(f"sentinel://{password}{host}:{port}/{where.db}" for host, port in where.hosts)
    watchers: dict[str, object] = {
        "socket_timeout": SENTINEL_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_TIMEOUT_S,
    }
    if where.sentinel_password:
        watchers["password"] = where.sentinel_password
    options: dict[str, object] = {
        **TIMEOUTS,
        "master_name": where.service,
        "sentinel_kwargs": watchers,
    }
    use_ssl: dict[str, object] | bool = {"ssl_cert_reqs": ssl.CERT_REQUIRED} if where.tls else False
    return Broker(hosts, SENTINEL_TRANSPORT, options, use_ssl)
