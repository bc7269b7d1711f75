"""Everything a process needs, built once at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from router.config.clock import Clock
from router.config.load import load_rules
from router.config.settings import Settings
from router.core.rules import Rules
from router.delivery.breaker import Breaker
from router.delivery.channels.apprise_backend import AppriseBackend
from router.delivery.channels.base import ChannelBackend
from router.delivery.channels.compose import NoticeComposer
from router.delivery.channels.delivery import Notifier
from router.delivery.mail.backends import EmailBackend, backend_from
from router.delivery.mail.compose import Composer
from router.delivery.mail.delivery import Mailer
from router.delivery.slack.api import SlackApi
from router.delivery.slack.channel import SlackPoster
from router.service.engine import Engine
from router.service.folding import Fault, no_fault
from router.state import connect, replication
from router.state.rosterstore import RosterStore
from router.state.watch import RedisClock, Watch


@dataclass
class Runtime:
    settings: Settings
    rules: Rules
    redis: redis.Redis
    engine: Engine
    roster: RosterStore
    composer: Composer
    notifier: Notifier
    notices: NoticeComposer
    slack: SlackPoster
    clock: Clock = field(default_factory=RedisClock)
    watch: Watch | None = None
    """Started by each router process (router.processes.serve), not by tests."""

    def watched(self, role: str) -> Runtime:
        """This runtime with its Watch running in this process (router.state.watch);
        `role`: api, worker or scheduler."""
        if self.watch is not None:
            self.watch.start(role)
        return self

    def current_rules(self) -> Rules:
        """The rules with the run-time absences and overrides laid over."""
        return self.roster.rules()

    def confirm_writes(self) -> None:
        """After a change a person asked for (acknowledge, resolve, snooze, a note, the
        roster) or a batch's fold: ROUTER_REDIS_MIN_REPLICAS replicas hold it, or
        ReplicaShortfall (a 503; a fold's task goes back to its queue)."""
        settings = self.settings
        online = self.watch.replicas_online if self.watch else 0
        replication.confirm(self.redis, settings.redis_min_replicas, settings.redis_wait_ms, online)


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    backend: EmailBackend | None = None,
    fault: Fault = no_fault,
    channel_backend: ChannelBackend | None = None,
) -> Runtime:
    """`fault` is a test hook called where a crash once lost work (router.service.folding)."""
    rules = load_rules(settings.rules_dir)
    client = connect.client(settings.redis_url)
    composer = Composer(
        settings.templates_dir,
        rules,
        settings.public_url,
        settings.secret_key.get_secret_value().encode(),
        settings.link_ttl_s,
    )
    email_backend = backend or backend_from(settings)
    replicas = replication.Replicas(settings.redis_min_replicas, settings.redis_wait_ms)
    mailer = Mailer(
        client,
        email_backend,
        settings.email_from,
        settings.timer_lease_s,
        Breaker(email_backend.name, settings.retry_backoff_s),
        replicas,
    )
    notifier = Notifier(
        client,
        channel_backend or AppriseBackend(settings.channel_timeout_s, rules.team.uses_channels()),
        settings.timer_lease_s,
        settings.channel_max_attempts,
        replicas,
    )
    notices = NoticeComposer(composer, settings.templates_dir.parent / "push")
    token = settings.slack_bot_token
    slack_api = (
        SlackApi(token.get_secret_value(), settings.slack_api_url, settings.channel_timeout_s)
        if token is not None
        else None
    )
    slack = SlackPoster(
        client, slack_api, settings.timer_lease_s, settings.channel_max_attempts, replicas
    )
    roster = RosterStore(client, rules)
    engine = Engine.build(
        rules,
        client,
        composer,
        mailer,
        settings.retry_backoff_s,
        settings.timer_lease_s,
        fault,
        roster.rules,
        notifier=notifier,
        notices=notices,
        replicas=replicas,
        digest_after_pages=settings.digest_after_pages,
        digest_window_s=settings.digest_window_s,
        slack=slack,
    )
    clock = clock or RedisClock()
    watch = Watch(client, clock if isinstance(clock, RedisClock) else None)
    return Runtime(
        settings, rules, client, engine, roster, composer, notifier, notices, slack, clock, watch
    )
