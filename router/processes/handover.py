"""var/up.env: what a second terminal needs to use a `router up` run (its address, a
token, the secret key, the routing keys, its Redis), so that the README's walk-through
works when pasted, whether `router up` made one-off values or was given them.

Sourced with `. var/up.env`; written readable by its owner only, and removed when the
run stops."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

UP_ENV = Path("var/up.env")


@dataclass(frozen=True)
class Handover:
    url: str
    redis_url: str
    token: str
    """The bearer token a client sends (the first of ROUTER_API_TOKENS, without its name)."""
    secret_key: str
    routing_keys: Mapping[str, str]
    """Integration name -> routing key."""

    def text(self) -> str:
        exports = {
            "ROUTER_URL": self.url,
            "ROUTER_PUBLIC_URL": self.url,  # `router login-link` makes links to this run
            "REDIS_URL": self.redis_url,
            "ROUTER_TOKEN": self.token,
            "ROUTER_SECRET_KEY": self.secret_key,
            "ROUTER_ROUTING_KEYS": ",".join(f"{n}={k}" for n, k in self.routing_keys.items()),
            # one variable an integration, for /v2/enqueue: profit-aggregate's is
            # PROFIT_AGGREGATE_KEY
            **{key_variable(name): key for name, key in self.routing_keys.items()},
        }
        lines = ["# this `router up` run's address, token and keys: `. var/up.env`"]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in exports.items()]
        return "\n".join(lines) + "\n"


def key_variable(integration: str) -> str:
    """The shell variable of an integration's routing key in var/up.env."""
    word = "".join(c if c.isalnum() else "_" for c in integration.upper())
    return f"{word}_KEY"


def client_url(host: str, port: int) -> str:
    """Where a client on this machine reaches a server listening on host:port."""
    reachable = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    return f"http://{reachable}:{port}"


def write(handover: Handover, path: Path = UP_ENV) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a new file, so that its mode is ours
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(handover.text())
    return path
