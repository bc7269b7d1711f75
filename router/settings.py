"""Settings from the environment, read once when a process starts (never at import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_REPO = Path(__file__).resolve().parents[1]


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
    smtp_timeout_s: float = Field(default=30.0, gt=0, alias="ROUTER_SMTP_TIMEOUT_S")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        default="none", alias="ROUTER_SMTP_SECURITY"
    )
    smtp_username: str = Field(default="", alias="ROUTER_SMTP_USERNAME")
    smtp_password: SecretStr = Field(default=SecretStr(""), alias="ROUTER_SMTP_PASSWORD")
    sendgrid_api_key: SecretStr = Field(default=SecretStr(""), alias="SENDGRID_API_KEY")
    sendgrid_host: str = Field(default="https://api.sendgrid.com", alias="ROUTER_SENDGRID_HOST")
    sendgrid_timeout_s: float = Field(default=10.0, gt=0, alias="ROUTER_SENDGRID_TIMEOUT_S")
    sendgrid_sandbox: bool = Field(default=False, alias="ROUTER_SENDGRID_SANDBOX")
    sendgrid_max_attempts: int = Field(default=5, ge=1, alias="ROUTER_SENDGRID_MAX_ATTEMPTS")
    sendgrid_backoff_s: float = Field(default=1.0, gt=0, alias="ROUTER_SENDGRID_BACKOFF_S")
    link_ttl_s: int = Field(default=7 * 86400, gt=0, alias="ROUTER_LINK_TTL_S")
    scheduler_tick_s: float = Field(default=1.0, gt=0, alias="ROUTER_SCHEDULER_TICK_S")
    timer_lease_s: float = Field(default=60.0, gt=0, alias="ROUTER_TIMER_LEASE_S")

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = ".".join(str(part) for part in first["loc"])
        raise SettingsInvalid(f"setting {name}: {first['msg']}") from None
    if settings.email_backend == "sendgrid" and not settings.sendgrid_api_key.get_secret_value():
        raise SettingsInvalid("setting SENDGRID_API_KEY: required by ROUTER_EMAIL_BACKEND=sendgrid")
    return settings
