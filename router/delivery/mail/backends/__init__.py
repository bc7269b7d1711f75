"""Email backends side by side: outbox, console, smtp, sendgrid (see base.py)."""

from __future__ import annotations

from router.config.settings import Settings
from router.delivery.mail.backends.base import DeliveryFailed, EmailBackend
from router.delivery.mail.backends.console import ConsoleBackend
from router.delivery.mail.backends.outbox import OutboxBackend
from router.delivery.mail.backends.sendgrid import SendGridBackend
from router.delivery.mail.backends.smtp import SmtpBackend

__all__ = ["DeliveryFailed", "EmailBackend", "backend_from"]


def backend_from(settings: Settings) -> EmailBackend:
    if settings.email_backend == "console":
        return ConsoleBackend()
    if settings.email_backend == "smtp":
        return SmtpBackend(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            timeout_s=settings.smtp_timeout_s,
        )
    if settings.email_backend == "sendgrid":
        return SendGridBackend(
            settings.sendgrid_api_key.get_secret_value(),
            host=settings.sendgrid_host,
            timeout_s=settings.sendgrid_timeout_s,
            sandbox=settings.sendgrid_sandbox,
        )
    return OutboxBackend(settings.outbox_dir)
