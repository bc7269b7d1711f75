"""A backend that just failed is left alone for a while, in this process.

One mail server serves every email, so when an attempt to it times out, the next ones
would too: each would hold a worker for the backend's whole timeout, and the pushes and
chat lines sent beside the emails would wait behind them. After a transient failure the
breaker is open: attempts come back "retry" at once, held until it closes, without
counting as an attempt. The first attempt after that is the probe; its failure opens the
breaker for twice as long, up to MAX_OPEN_S; a success closes it. It stays open at least
PROBE_SHARE times as long as the failed attempt took (from its start), so that a server
that hangs holds a worker for a third of the time at most, not all of it.

Times are the caller's `now` (the router's clock), so tests that move the clock move the
breaker too. The state is the process's own: each worker learns of an outage by one
timeout of its own, which keeps Redis out of every send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_OPEN_S = 30.0
PROBE_SHARE = 3.0


class Breaker:
    def __init__(self, backend: str, first_open_s: float = 5.0) -> None:
        self.backend, self.first_open_s = backend, first_open_s
        self.failures = 0
        self.open_until: datetime | None = None

    def open_s(self, now: datetime) -> float:
        """How long attempts are still held; 0 when one may go."""
        if self.open_until is None:
            return 0.0
        return max(0.0, (self.open_until - now).total_seconds())

    def failed(self, now: datetime, took_s: float = 0.0) -> None:
        """An attempt started at `now` failed after `took_s`."""
        self.failures += 1
        open_s = max(self.first_open_s * 2 ** (self.failures - 1), PROBE_SHARE * took_s)
        self.open_until = now + timedelta(seconds=min(MAX_OPEN_S, open_s))

    def closed(self) -> None:
        self.failures, self.open_until = 0, None
