"""Every channel through apprise: one URL, one plugin, one attempt.

apprise answers a bool per service and logs why a send failed; the status a service
answered is in that log as `error=NNN` (every HTTP plugin writes it). A 4xx other than
408 and 429 is the service refusing the request: permanent. Anything else (5xx, no
connection, a timeout, no status at all) is transient and retried by the caller's timer.
apprise's own retries stay off (`retry=0`): a task never waits out a back-off.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

from router.config.contact_methods import masked
from router.delivery.channels.base import Notice, Tone
from router.state.sendonce import DeliveryFailed, Fence, unfenced

_STATUS = re.compile(r"\berror=(\d{3})\b")
_TRANSIENT_4XX = {408, 425, 429}
_TYPES: dict[Tone, str] = {"high": "failure", "low": "warning", "info": "info"}  # NotifyType


def with_acknowledge(url: str, acknowledge_url: str) -> str:
    """An ntfy URL with an Acknowledge button that POSTs to `acknowledge_url` (apprise's
    ntfy plugin sends `?actions=` as ntfy's `X-Actions` header); other services keep the
    page's link in its text."""
    if not url.startswith(("ntfy://", "ntfys://")):
        return url
    action = f"http, Acknowledge, {acknowledge_url}, method=POST, clear=true"
    return f"{url}{'&' if '?' in url else '?'}actions={quote(action, safe='')}"


def _permanent(status: int | None) -> bool:
    return status is not None and 400 <= status < 500 and status not in _TRANSIENT_4XX


class AppriseBackend:
    name = "apprise"

    def __init__(self, timeout_s: float = 10.0, warm: bool = True) -> None:
        """`warm`: load apprise now (half a second: it imports 180 plugins) rather than
        inside the first page's deadline; a process whose rules list no channel skips it."""
        self.timeout_s = timeout_s
        if warm:
            self._apprise().Apprise.instantiate("json://localhost")

    @staticmethod
    def _apprise() -> Any:
        import apprise

        # The reasons are apprise's warnings: they must reach its per-call capture even
        # where the process logs errors only (Celery's test worker does).
        apprise_log = logging.getLogger(apprise.LOGGER_NAME)
        if not apprise_log.isEnabledFor(logging.WARNING):
            apprise_log.setLevel(logging.WARNING)
        return apprise

    def send(self, url: str, notice: Notice, fence: Fence = unfenced) -> None:
        # A fresh plugin per send: apprise plugins remember what they delivered.
        service = self._apprise().Apprise()
        if notice.acknowledge_url is not None:
            url = with_acknowledge(url, notice.acknowledge_url)
        if not service.add(url):
            raise DeliveryFailed(f"{masked(url)} is not a URL apprise can use", permanent=True)
        fence(self.timeout_s)
        result = service.notify(
            body=notice.body,
            title=notice.title,
            notify_type=_TYPES[notice.tone],
            timeout=self.timeout_s,
        )
        if result:
            return
        said = [entry.message for entry in result.logs()] or ["no reason given"]
        statuses = [int(found) for line in said for found in _STATUS.findall(line)]
        status = statuses[-1] if statuses else None
        raise DeliveryFailed(f"{masked(url)}: {said[-1]}", permanent=_permanent(status))
