"""What the scheduler says of maintenance windows: at the end of each occurrence, one
summary email to each owner of the pipelines whose incidents it kept from paging,
listing them (resolved meanwhile, or still open), written once with its marker into the
outbox (`WindowSummaries`); and a line in the team chat when one starts and when it ends
(`WindowLines`). The incidents themselves are decided again by their own `unmute` timers
(router.delivery.firing.unmute), so a summary or a line lost or late never holds a page
back.

A window whose occurrence muted nothing sends nothing: the summary is news only when
something was kept quiet. Owners of pipelines without owners: the on-call engineer at
the window's end.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import redis

from router.core.incidents import Incident
from router.core.maintenance import Span, Window, ended, started
from router.core.message import OutgoingMessage
from router.core.rotation import shift_at
from router.core.rules import Rules
from router.delivery.mail.compose import Composer
from router.state import keys, outbox, stream
from router.state.muted import muted_by, unmute_now
from router.state.store import IncidentStore

LOOK_BACK = timedelta(days=1)
"""How long after its end a window's summary is still written (a scheduler that was
down meanwhile); older ones are left."""


class WindowSummaries:
    def __init__(
        self,
        client: redis.Redis,
        store: IncidentStore,
        composer: Composer,
        current_rules: Callable[[], Rules],
    ) -> None:
        self.redis, self.store, self.composer = client, store, composer
        self.current_rules = current_rules
        self._written: dict[str, datetime] = {}  # markers seen set: no Redis read each tick

    def summarize(self, now: datetime) -> int:
        """The summaries of the occurrences that ended in the last day, once each;
        returns how many emails it wrote."""
        rules = self.current_rules()
        windows = rules.maintenance_windows()
        if not windows:
            return 0
        self._written = {m: end for m, end in self._written.items() if end > now - LOOK_BACK}
        written = 0
        for window, span in ended(windows, now - LOOK_BACK, now, rules.team.zone):
            marker = keys.window_summarized(window.id, span.start.timestamp())
            if marker in self._written:
                continue
            if not self.redis.exists(marker):
                muted = muted_by(self.redis, window.id, span.start.timestamp())
                # each decided again at once: one a fold suppressed under the window just
                # as it was ended early kept its timer at the window's planned end
                unmute_now(self.redis, muted, now)
                messages = self._summaries(window, span, muted, rules)
                if outbox.put_once(self.redis, marker, messages, now):
                    written += len(messages)
            self._written[marker] = span.end
        return written

    def _summaries(
        self, window: Window, span: Span, ids: list[str], rules: Rules
    ) -> list[OutgoingMessage]:
        muted = [i for i in self.store.get_many(ids).values() if i is not None]
        return [
            self.composer.maintenance_summary(window, span, muted, name)
            for name in _owners(muted, rules, span.end)
        ]


def _owners(muted: list[Incident], rules: Rules, end: datetime) -> list[str]:
    """The owners of the muted incidents' pipelines, in order, each once."""
    names: list[str] = []
    for pipeline_id in sorted({incident.pipeline for incident in muted}):
        owners = rules.pipeline(pipeline_id).owners.names() or [shift_at(end, rules).engineer]
        names.extend(name for name in owners if name not in names)
    return names


LINE_FRESH = timedelta(hours=1)
"""A start or end older than this (a scheduler that was down) gets no line: old news."""


class WindowLines:
    def __init__(
        self, client: redis.Redis, current_rules: Callable[[], Rules], lease_s: float
    ) -> None:
        self.redis, self.current_rules, self.lease_s = client, current_rules, lease_s
        self._written: dict[str, datetime] = {}  # lines this process wrote or found written

    def announce(self, now: datetime) -> int:
        """A line for each occurrence that started or ended in the last LINE_FRESH, once
        (stream.append_once's marker); returns how many it wrote. Nothing without a chat."""
        rules = self.current_rules()
        windows = rules.maintenance_windows()
        if not windows or not rules.team.has_chat():
            return 0
        zone, since = rules.team.zone, now - LINE_FRESH
        self._written = {k: at for k, at in self._written.items() if at > since}
        written = 0
        for window, span in started(windows, since, now, zone):
            text = self._started(window, span, rules)
            written += self._line(window, span, "maintenance started", text, span.start, now)
        for window, span in ended(windows, since, now, zone):
            text = self._ended(window, span)
            written += self._line(window, span, "maintenance ended", text, span.end, now)
        return written

    def _line(
        self,
        window: Window,
        span: Span,
        change: stream.Change,
        text: str,
        at: datetime,
        now: datetime,
    ) -> int:
        stream_id = stream.window_stream(window.id, span.start.timestamp())
        tag = f"{stream_id}:{change}"
        if tag in self._written:
            return 0
        line = stream.window_line(stream_id, change, text)
        wrote = stream.append_once(self.redis, line, change, now, self.lease_s)
        self._written[tag] = at
        return int(wrote)

    def _started(self, window: Window, span: Span, rules: Rules) -> str:
        until = span.end.astimezone(rules.team.zone).strftime("%a %H:%M %Z")
        aside = ", P1s aside" if window.page_p1 else ""
        return (
            f"Maintenance window {window.id} on until {until}: {window.reason}. "
            f"{window.covering(rules.pipeline_names())} page nobody meanwhile{aside}."
        )

    def _ended(self, window: Window, span: Span) -> str:
        muted = len(muted_by(self.redis, window.id, span.start.timestamp()))
        return (
            f"Maintenance window {window.id} over: {window.reason}. It kept {muted} "
            "incident(s) quiet; those still triggered are decided again now."
        )
