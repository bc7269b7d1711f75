"""Contact methods are apprise URLs: apprise parses them (no network), and masks them.

A URL is a secret as a whole (tokens, passwords, webhook paths): what prints is apprise's
privacy form without its query, or for a URL apprise cannot read, the scheme alone.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=256)
def _service(url: str) -> Any:
    import apprise  # half a second to import: only rules that list a URL pay for it

    return apprise.Apprise.instantiate(url)


def is_valid(url: str) -> bool:
    return _service(url) is not None


def masked(url: str) -> str:
    service = _service(url)
    if service is None:
        scheme, found, _ = url.partition("://")
        return f"{scheme}://…" if found else "(not a URL)"
    return str(service.url(privacy=True)).split("?", 1)[0]
