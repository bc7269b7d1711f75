"""What the workers and the scheduler do, one part per job, wired from the core, the
store and the mailer. Each entry point takes `now` from its caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from router.core.rules import Rules
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.delivery import Notifier
from router.delivery.firing import Firing
from router.delivery.mail.compose import Composer
from router.delivery.mail.delivery import Mailer
from router.delivery.slack.channel import SlackPoster
from router.delivery.webhooks import WebhookCaller
from router.service.folding import Fault, Intake, no_fault
from router.service.maintenance import WindowLines, WindowSummaries
from router.service.watchers import Watchers
from router.state.digests import Digests
from router.state.ids import unique_hex, unique_hexes
from router.state.replication import NO_REPLICAS, Replicas
from router.state.store import IncidentStore

new_id = unique_hex
"""An event's or incident's id: 128 bits as 32 hex digits (router.state.ids)."""
new_ids = unique_hexes


@dataclass(frozen=True)
class Engine:
    store: IncidentStore
    intake: Intake  # events and API actions into incidents
    firing: Firing  # due timers into messages
    watchers: Watchers  # deadlines and shift changes
    window_summaries: WindowSummaries  # the summary at a maintenance window's end
    window_lines: WindowLines  # the team chat's lines at a window's start and end

    @classmethod
    def build(
        cls,
        rules: Rules,
        client: redis.Redis,
        composer: Composer,
        mailer: Mailer,
        retry_backoff_s: float,
        timer_lease_s: float,
        fault: Fault = no_fault,
        current_rules: Callable[[], Rules] | None = None,
        *,
        notifier: Notifier,
        notices: NoticeComposer,
        replicas: Replicas = NO_REPLICAS,
        digest_after_pages: int = 0,
        digest_window_s: float = 600.0,
        slack: SlackPoster | None = None,
    ) -> Engine:
        """`current_rules`: the rules with the run-time roster laid over; by default the
        loaded rules alone. `replicas`: what must hold a send's fenced lease (the
        webhooks'; the mailer and notifier come built). `digest_after_pages` pages to a
        person in `digest_window_s` and their further pages go as a digest (0: never).
        `slack`: the Slack app's poster (by default one without a token)."""
        current = current_rules or (lambda: rules)
        store = IncidentStore(client, rules, timer_lease_s, current, composer)
        intake = Intake(rules, client, store, new_id, fault)
        return cls(
            store=store,
            intake=intake,
            firing=Firing(
                client,
                store,
                composer,
                mailer,
                retry_backoff_s,
                current,
                WebhookCaller(client, timer_lease_s, replicas=replicas),
                notifier,
                notices,
                timer_lease_s,
                rules,
                Digests(client, digest_after_pages, digest_window_s),
                slack or SlackPoster(client, None, timer_lease_s, 1, replicas),
            ),
            watchers=Watchers(rules, client, intake, composer, fault, current),
            window_summaries=WindowSummaries(client, store, composer, current),
            window_lines=WindowLines(client, current, timer_lease_s),
        )
