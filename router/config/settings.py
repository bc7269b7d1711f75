"""Settings from the environment, read once when a process starts (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from router.config import redis_url

_REPO = Path(__file__).resolve().parents[2]


class SettingsInvalid(Exception):
    """One line that says which setting is wrong and how."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", alias="REDIS_URL")
    rules_dir: Path = Field(default=Path("rules"), alias="ROUTER_RULES_DIR")
    api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, alias="ROUTER_API_TOKENS"
    )
    public_url: str = Field(default="http://127.0.0.1:8080", alias="ROUTER_PUBLIC_URL")
    secret_key: SecretStr = Field(default=SecretStr(""), alias="ROUTER_SECRET_KEY")
    email_backend: Literal["outbox", "console", "smtp", "sendgrid"] = Field(
        default="outbox", alias="ROUTER_EMAIL_BACKEND"
    )
    outbox_dir: Path = Field(default=Path("var/outbox"), alias="ROUTER_OUTBOX_DIR")
    email_from: str = Field(default="alert-router@example.com", alias="ROUTER_EMAIL_FROM")
    templates_dir: Path = Field(default=_REPO / "templates" / "email", alias="ROUTER_TEMPLATES_DIR")
    smtp_host: str = Field(default="127.0.0.1", alias="ROUTER_SMTP_HOST")
    smtp_port: int = Field(default=25, alias="ROUTER_SMTP_PORT")
    smtp_timeout_s: float = Field(default=10.0, gt=0, alias="ROUTER_SMTP_TIMEOUT_S")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none", alias="ROUTER_SMTP_SECURITY"
    )
    smtp_username: str = Field(default="", alias="ROUTER_SMTP_USERNAME")
    smtp_password: SecretStr = Field(default=SecretStr(""), alias="ROUTER_SMTP_PASSWORD")
    sendgrid_api_key: SecretStr = Field(default=SecretStr(""), alias="SENDGRID_API_KEY")
    sendgrid_host: str = Field(default="https://api.sendgrid.com", alias="ROUTER_SENDGRID_HOST")
    sendgrid_timeout_s: float = Field(default=10.0, gt=0, alias="ROUTER_SENDGRID_TIMEOUT_S")
    sendgrid_sandbox: bool = Field(default=False, alias="ROUTER_SENDGRID_SANDBOX")
    retry_backoff_s: float = Field(default=5.0, gt=0, alias="ROUTER_RETRY_BACKOFF_S")
    channel_timeout_s: float = Field(default=10.0, gt=0, alias="ROUTER_CHANNEL_TIMEOUT_S")
    channel_max_attempts: int = Field(default=6, ge=1, alias="ROUTER_CHANNEL_MAX_ATTEMPTS")
    """Transient failures of a push or chat send before it is recorded as failed."""
    link_ttl_s: int = Field(default=7 * 86400, gt=0, alias="ROUTER_LINK_TTL_S")
    scheduler_tick_s: float = Field(default=1.0, gt=0, alias="ROUTER_SCHEDULER_TICK_S")
    timer_lease_s: float = Field(default=60.0, gt=0, alias="ROUTER_TIMER_LEASE_S")
    redeliver_after_s: int = Field(default=30, ge=5, alias="ROUTER_REDELIVER_AFTER_S")
    routing_keys: Annotated[dict[str, SecretStr], NoDecode] = Field(
        default_factory=dict, alias="ROUTER_ROUTING_KEYS"
    )
    link_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="ROUTER_LINK_HOSTS"
    )
    redis_min_replicas: int = Field(default=0, ge=0, alias="ROUTER_REDIS_MIN_REPLICAS")
    """Replicas that must confirm a batch's task (WAIT) before the API answers 202."""
    redis_wait_ms: int = Field(default=1000, ge=1, alias="ROUTER_REDIS_WAIT_MS")
    """How long the API waits for those replicas before it answers 503."""
    rate_limit_per_min: int = Field(default=0, ge=0, alias="ROUTER_RATE_LIMIT_PER_MIN")
    events_limit: int = Field(default=0, ge=0, alias="ROUTER_EVENTS_LIMIT")
    """Events one token or integration may send per window (router.api.flood); 0: off."""
    events_limit_window_s: int = Field(default=300, ge=1, alias="ROUTER_EVENTS_LIMIT_WINDOW_S")
    inbound_secret: SecretStr | None = Field(default=None, alias="ROUTER_INBOUND_SECRET")
    """The basic-auth password of SendGrid's Inbound Parse on /v1/inbound/sendgrid; none:
    the route is off."""
    inbound_host: str = Field(default="127.0.0.1", alias="ROUTER_INBOUND_HOST")
    inbound_port: int = Field(default=2525, ge=1, le=65535, alias="ROUTER_INBOUND_PORT")
    """Where `router inbound` listens for replies by SMTP."""
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    """The Slack app's bot token (xoxb-...): with team.yaml's `slack: {channel: ...}`, the
    team stream posts to Slack through the app (router.delivery.slack)."""
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    """Checks that a button press or a slash command came from Slack; none: those routes
    are off."""
    slack_api_url: str = Field(default="https://slack.com/api/", alias="ROUTER_SLACK_API_URL")
    """The Web API's base URL (tests point it at a local server)."""
    digest_after_pages: int = Field(default=5, ge=0, alias="ROUTER_DIGEST_AFTER_PAGES")
    """Pages to one person in ROUTER_DIGEST_WINDOW_S before their further pages go as one
    digest per window (router.core.digest); 0: never."""
    digest_window_s: int = Field(default=600, ge=60, alias="ROUTER_DIGEST_WINDOW_S")
    max_details_bytes: int = Field(default=16 * 1024, ge=64, alias="ROUTER_MAX_DETAILS_BYTES")
    """Each free-form field of an event (`details`, `links`), as compact JSON: docs/limits.md."""
    api_docs: bool = Field(default=True, alias="ROUTER_API_DOCS")

    @field_validator("inbound_secret", "slack_bot_token", "slack_signing_secret", mode="before")
    @classmethod
    def _blank_is_off(cls, value: object) -> object:
        """`SLACK_BOT_TOKEN=` (compose passes an unset one so) turns the feature off rather
        than on with an empty secret, which would let anyone in."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("link_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @field_validator("routing_keys", mode="before")
    @classmethod
    def _split_routing_keys(cls, value: object) -> object:
        """`name=key,name=key`: each integration of rules/routing.yaml and its secret key."""
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for part in (p.strip() for p in value.split(",") if p.strip()):
            name, equals, key = part.partition("=")
            if not equals or not name.strip():
                raise ValueError(f"{part[:20]!r}...: write integration=key")
            if len(key.strip()) < 32:
                raise ValueError(
                    f"{name.strip()}: a routing key needs 32+ characters (router keygen makes one)"
                )
            pairs[name.strip()] = key.strip()
        return pairs


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        raise SettingsInvalid(f"setting {name}: {first['msg']}") from None
    try:
        redis_url.check(settings.redis_url)
    except redis_url.AddressInvalid as error:
        raise SettingsInvalid(f"setting REDIS_URL: {error}") from None
    if settings.email_backend == "sendgrid" and not settings.sendgrid_api_key.get_secret_value():
        raise SettingsInvalid("setting SENDGRID_API_KEY: required by ROUTER_EMAIL_BACKEND=sendgrid")
    attempt_s = {"smtp": settings.smtp_timeout_s, "sendgrid": settings.sendgrid_timeout_s}
    longest_s = attempt_s.get(settings.email_backend, 0.0)
    if settings.timer_lease_s < 2 * longest_s:
        raise SettingsInvalid(
            f"setting ROUTER_TIMER_LEASE_S: {settings.timer_lease_s:g} s is too short for one "
            f"{settings.email_backend} attempt (timeout {longest_s:g} s); use at least "
            f"{2 * longest_s:g} s so no send outlives its lease"
        )
    return settings


def check_channel_lease(settings: Settings, uses_channels: bool) -> None:
    """With push or chat URLs in the rules, a channel attempt must fit in the lease too."""
    if uses_channels and settings.timer_lease_s < 2 * settings.channel_timeout_s:
        raise SettingsInvalid(
            f"setting ROUTER_TIMER_LEASE_S: {settings.timer_lease_s:g} s is too short for one "
            f"push or chat attempt (ROUTER_CHANNEL_TIMEOUT_S {settings.channel_timeout_s:g} s); "
            f"use at least {2 * settings.channel_timeout_s:g} s so no send outlives its lease"
        )
