"""A test notice to a person's contact methods: `router send-test` and the console's
"send me a test". One attempt per URL, no send-once marker: every test is new."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from router.config.contact_methods import masked
from router.delivery.channels.base import ChannelBackend
from router.delivery.channels.compose import NoticeComposer


@dataclass(frozen=True)
class Tried:
    method: str
    """The URL, masked."""
    failure: str | None
    """None when the service accepted the notice."""


def send_trial(
    backend: ChannelBackend, notices: NoticeComposer, person: str, urls: list[str], by: str
) -> list[Tried]:
    tried = []
    for url in urls:
        notice = notices.test(person, masked(url), by, f"test:{secrets.token_hex(8)}")
        try:
            backend.send(url, notice)
        except Exception as error:  # DeliveryFailed, or the service's own: say it, go on
            tried.append(Tried(masked(url), str(error) or type(error).__name__))
        else:
            tried.append(Tried(masked(url), None))
    return tried
