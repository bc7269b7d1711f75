"""Where Redis is: one setting, REDIS_URL, for every client of every process.

A plain `redis://` (or `rediss://`, `unix://`) URL is one server, as redis-py reads it.
`redis+sentinel://` names the Sentinels that watch a master instead, and each client
asks them where the master is, again after a failover:

    redis+sentinel://[[user]:password@]host:26379,host:26379,.../SERVICE[/DB]
        [?sentinel_password=...]

The password is the master's (and its replicas'); the Sentinels' own, if they have one,
is `sentinel_password`. `rediss+sentinel://` reaches the master over TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
# A server that stops answering without closing the connection (its host cut off) fails
# a command within seconds, so that the next one connects again: to the master the
# Sentinels name by then. A fold's MULTI takes well under SOCKET_TIMEOUT_S.
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0
# A Sentinel that does not answer (its host down or cut off) is passed over within this
# for the next one.
SENTINEL_TIMEOUT_S = 2.0


class AddressInvalid(ValueError):
    """REDIS_URL cannot be read: the message says which part is wrong."""


@dataclass(frozen=True)
class Sentinels:
    """A master found through its Sentinels."""

    hosts: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False

    def describe(self) -> str:
        """For logs and errors: no password."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.hosts)
        return f"the master {self.service!r} of the Sentinels at {hosts} (db {self.db})"


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SCHEMES


def sentinels_of(url: str) -> Sentinels:
    """The Sentinels a `redis+sentinel://` URL names (AddressInvalid if it is not one)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise AddressInvalid(f"{parts.scheme}:// is not a Sentinel URL ({' or '.join(SCHEMES)})")
    credentials, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    hosts = tuple(_host(part) for part in hostlist.split(",") if part.strip())
    if not hosts:
        raise AddressInvalid("name at least one Sentinel, host:port")
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise AddressInvalid("the path is /SERVICE or /SERVICE/DB (the master's name)")
    db = 0
    if len(path) == 2:
        if not path[1].isdigit():
            raise AddressInvalid(f"database {path[1]!r} is not a number")
        db = int(path[1])
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"sentinel_password"})
    if unknown:
        raise AddressInvalid(f"unknown option {unknown[0]!r} (known: sentinel_password)")
    return Sentinels(
        hosts=hosts,
        service=path[0],
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=query.get("sentinel_password", [None])[0],
        tls=parts.scheme.lower() == "rediss+sentinel",
    )


def _host(text: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [::1]:26379
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise AddressInvalid(f"{text!r}: a Sentinel is host:port")
    if port_text and not port_text.isdigit():
        raise AddressInvalid(f"{text!r}: the port is not a number")
    return host, int(port_text) if port_text else SENTINEL_PORT


def check(url: str) -> None:
    """AddressInvalid if REDIS_URL is a Sentinel URL that cannot be read."""
    if is_sentinel(url):
        sentinels_of(url)


def describe(url: str) -> str:
    """Where Redis is, for logs and errors: no password."""
    if is_sentinel(url):
        return sentinels_of(url).describe()
    parts = urlsplit(url)
    host = parts.hostname or parts.path
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"
