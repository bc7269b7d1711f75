from __future__ import annotations

import os
import subprocess
import sys

import pytest

from router.config.settings import Settings, SettingsInvalid, load_settings
from tests.support import RULES_DIR


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTER_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        cwd=RULES_DIR.parent,
        timeout=60,
        check=False,
    )


def test_a_bad_setting_stops_the_process_with_one_line() -> None:
    done = _run("scheduler", ROUTER_SCHEDULER_TICK_S="soon")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "setting ROUTER_SCHEDULER_TICK_S:" in lines[0]


def test_the_api_needs_a_token() -> None:
    done = _run("api")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "error: ROUTER_API_TOKENS is empty: set at least one bearer token"
    )


def test_the_worker_needs_a_secret_key() -> None:
    done = _run("worker", ROUTER_SECRET_KEY="short")
    assert done.returncode != 0
    assert "ROUTER_SECRET_KEY must be at least 16 characters" in done.stderr


def test_bad_rules_stop_a_service_at_start(tmp_path: object) -> None:
    done = _run("worker", ROUTER_RULES_DIR="/nonexistent")
    assert done.returncode == 2 and "not a directory of rules" in done.stderr


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_API_TOKENS", "alpha-secret, beta-secret")
    monkeypatch.setenv("ROUTER_SECRET_KEY", "hmac-secret")
    monkeypatch.setenv("ROUTER_INBOUND_SECRET", "sendgrid-secret")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-slack-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "slack-signing-secret")
    settings = load_settings()
    assert [t.get_secret_value() for t in settings.api_tokens] == ["alpha-secret", "beta-secret"]
    shown = f"{settings!r} {settings}"
    names = ("secret_key", "inbound_secret", "slack_signing_secret")
    for name in names:
        shown = shown.replace(name, "")
    assert "secret" not in shown and "xoxb" not in shown


@pytest.mark.parametrize(
    "name", ["ROUTER_INBOUND_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]
)
def test_a_blank_secret_turns_its_feature_off(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """compose passes an unset one as empty: an empty password must not open a route."""
    monkeypatch.setenv(name, "  ")
    settings = load_settings()
    field = next(f for f, info in Settings.model_fields.items() if info.alias == name)
    assert getattr(settings, field) is None


def test_invalid_settings_raise_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_EMAIL_BACKEND", "carrier-pigeon")
    with pytest.raises(SettingsInvalid, match="setting ROUTER_EMAIL_BACKEND"):
        load_settings()
    assert Settings.model_fields["email_backend"].alias == "ROUTER_EMAIL_BACKEND"


@pytest.mark.parametrize(
    ("backend", "timeout_name", "timeout_s", "lease_s", "ok"),
    [
        ("smtp", "ROUTER_SMTP_TIMEOUT_S", "40", "60", False),
        ("smtp", "ROUTER_SMTP_TIMEOUT_S", "30", "60", True),
        ("sendgrid", "ROUTER_SENDGRID_TIMEOUT_S", "31", "60", False),
        ("outbox", "ROUTER_SMTP_TIMEOUT_S", "40", "5", True),
    ],
)
def test_a_send_never_outlives_its_lease(
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    timeout_name: str,
    timeout_s: str,
    lease_s: str,
    ok: bool,
) -> None:
    monkeypatch.setenv("ROUTER_EMAIL_BACKEND", backend)
    monkeypatch.setenv("SENDGRID_API_KEY", "SG.x")
    monkeypatch.setenv(timeout_name, timeout_s)
    monkeypatch.setenv("ROUTER_TIMER_LEASE_S", lease_s)
    if ok:
        assert load_settings().timer_lease_s == float(lease_s)
    else:
        with pytest.raises(SettingsInvalid, match=r"ROUTER_TIMER_LEASE_S: .* too short"):
            load_settings()
