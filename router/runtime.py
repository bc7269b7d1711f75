"""Everything a process needs, built once at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from router.breaker import Breaker
from router.channels.apprise_backend import AppriseBackend
from router.channels.base import ChannelBackend
from router.channels.compose import NoticeComposer
from router.channels.delivery import Notifier
from router.clock import Clock, SystemClock
from router.engine import Engine
from router.folding import Fault, no_fault
from router.mail.backends import EmailBackend, backend_from
from router.mail.compose import Composer
from router.mail.delivery import Mailer
from router.rosterstore import RosterStore
from router.rules import Rules
from router.rules.load import load_rules
from router.settings import Settings


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
    clock: Clock = field(default_factory=SystemClock)

    def current_rules(self) -> Rules:
        """The rules with the run-time absences and overrides laid over."""
        return self.roster.rules()


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    backend: EmailBackend | None = None,
    fault: Fault = no_fault,
    channel_backend: ChannelBackend | None = None,
) -> Runtime:
    """`fault` is a test hook called where a crash once lost work (router.folding)."""
    rules = load_rules(settings.rules_dir)
    client = redis.Redis.from_url(settings.redis_url)
    composer = Composer(
        settings.templates_dir,
        rules,
        settings.public_url,
        settings.secret_key.get_secret_value().encode(),
        settings.link_ttl_s,
    )
    email_backend = backend or backend_from(settings)
    mailer = Mailer(
        client,
        email_backend,
        settings.email_from,
        settings.timer_lease_s,
        Breaker(email_backend.name, settings.retry_backoff_s),
    )
    notifier = Notifier(
        client,
        channel_backend or AppriseBackend(settings.channel_timeout_s, rules.team.uses_channels()),
        settings.timer_lease_s,
        settings.channel_max_attempts,
    )
    notices = NoticeComposer(composer, settings.templates_dir.parent / "push")
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
    )
    return Runtime(
        settings,
        rules,
        client,
        engine,
        roster,
        composer,
        notifier,
        notices,
        clock or SystemClock(),
    )
