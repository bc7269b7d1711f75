"""Email backends side by side: outbox, console, smtp, sendgrid (see base.py)."""

from __future__ import annotations

from router.mail.backends.base import DeliveryFailed, EmailBackend
from router.mail.backends.console import ConsoleBackend
from router.mail.backends.outbox import OutboxBackend
from router.mail.backends.sendgrid import SendGridBackend
from router.mail.backends.smtp import SmtpBackend
from router.settings import Settings

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
