"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) sends its webhook to us."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alertmanager import running_alertmanager
from tests.stack import TOKEN, Stack, running_stack, wait_until
from tests.support import RULES_DIR, pacific


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(RULES_DIR, tmp_path / "outbox", pacific("2026-11-24 10:00")) as running:
        yield running


@pytest.fixture
def alertmanager(stack: Stack, tmp_path: Path) -> Iterator[str]:
    config = f"""
route:
  receiver: router
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: router
    webhook_configs:
      - url: {stack.url}/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {TOKEN}}}
          tls_config: {{ca_file: {stack.cert}}}
"""
    with running_alertmanager(tmp_path, config) as url:
        yield url


def _alert(ends_at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "labels": {
                "alertname": "GrowthChartBlank",
                "pipeline": "growth.aggregate",
                "type": "chart_broken",
                "severity": "critical",
            },
            "annotations": {"summary": "Chart 3 of the growth report is blank"},
            "startsAt": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            "endsAt": ends_at.isoformat(),
        }
    ]


def _incidents(stack: Stack) -> list[dict[str, Any]]:
    with stack.client() as client:
        found: list[dict[str, Any]] = client.get("/v1/incidents").json()["incidents"]
        return found


def test_firing_then_resolved_opens_then_resolves(stack: Stack, alertmanager: str) -> None:
    posted = httpx.post(
        f"{alertmanager}/api/v2/alerts",
        json=_alert(datetime.now(UTC) + timedelta(hours=1)),
        timeout=5,
    )
    assert posted.status_code == 200, posted.text
    (incident,) = wait_until(lambda: _incidents(stack), timeout_s=20, what="the firing webhook")
    assert incident["severity"] == "P1" and incident["type"] == "chart_broken"
    assert incident["status"] == "triggered" and len(incident["dedup_key"]) == 16  # fingerprint
    (page,) = wait_until(lambda: stack.emails(), what="the page")
    assert page["To"] == "biswa.rath@example.com"

    httpx.post(f"{alertmanager}/api/v2/alerts", json=_alert(datetime.now(UTC)), timeout=5)
    wait_until(
        lambda: _incidents(stack)[0]["status"] == "resolved",
        timeout_s=20,
        what="the resolved webhook",
    )
    assert _incidents(stack)[0]["resolved_by"] == "alertmanager"
