"""Realistic messages of every kind, made from the rules through the real core.

For `router preview`, `router send-test` and the template tests: no Redis, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from router.core.events import parse_event
from router.core.incidents import Incident, apply_event
from router.core.maintenance import one_off
from router.core.message import OutgoingMessage
from router.core.rotation import shift_at
from router.core.rules import Rules
from router.core.times import parse_instant
from router.delivery.mail.compose import KINDS, Composer

# Thanksgiving night: an off-hours page to the on-call engineer, then escalation.
NIGHT = "2026-11-26T03:10:00"
SATURDAY = "2026-11-28T03:00:00"


def _incident(rules: Rules, data: dict[str, Any], at: str) -> tuple[Incident, datetime]:
    now = parse_instant(at, rules.team.zone)
    outcome = apply_event({}, parse_event(data, rules, now), rules, now, new_id="sample")
    assert outcome.opened is not None, "sample events must open an incident"
    return outcome.opened, now


def sample(
    kind: str, composer: Composer, rules: Rules, summary: str | None = None
) -> OutgoingMessage:
    """A message of `kind`; `summary` replaces the sample summary (to test escaping)."""
    if kind not in KINDS:
        raise ValueError(f"unknown message kind {kind!r}: one of {', '.join(KINDS)}")
    if kind == "report_ready":
        pipeline = rules.pipeline("engagement.aggregate")
        analyst = (
            str(rules.team.analysts[0].email) if rules.team.analysts else "analyst@example.com"
        )
        return composer.report_ready(
            "sample",
            pipeline,
            summary or "November engagement, all regions, deduplicated.",
            ["https://reports.example.com/engagement/2026-11-25"],
            "2026-11-25",
            analyst,
        )
    if kind == "maintenance_summary":
        return _maintenance_summary(composer, rules, summary)
    if kind == "digest":
        return _digest(composer, rules, summary)
    if kind == "handoff":
        start = shift_at(parse_instant("2026-11-27T09:00:00", rules.team.zone), rules)
        before = shift_at(start.start - timedelta(microseconds=1), rules)
        return composer.handoff(start, before, start)
    if kind == "deferred":
        incident, now = _incident(
            rules,
            {
                "pipeline": "growth.aggregate",
                "type": "slow_query",
                "summary": summary or "growth query p95 at 40 s for the investor report",
            },
            SATURDAY,
        )
        assert incident.deliver_at is not None
        now = incident.deliver_at
    elif kind == "data_late":
        incident, now = _incident(
            rules,
            {
                "pipeline": "profit.unit",
                "type": "data_late",
                "details": {"data_date": "2026-11-25"},
                "summary": summary
                or "Unit-level profit data for 2026-11-25 not ready by 19:00 PST",
            },
            "2026-11-25T19:00:05",
        )
    else:
        incident, now = _incident(
            rules,
            {
                "pipeline": "profit.aggregate",
                "type": "data_missing",
                "severity": "P1",
                "summary": summary or "unit-level profit missing for 2026-11-25",
            },
            NIGHT,
        )
    index = 1 if kind == "escalation" else 0
    if kind == "resolved":
        incident = incident.model_copy(
            update={
                "status": "resolved",
                "resolved_at": now + timedelta(minutes=20),
                "resolved_by": f"{incident.escalation[0].notify[0]} (email link)",
            }
        )
    name = incident.escalation[index].notify[0]
    key = f"sample:{kind}:{name}"
    return composer.incident_message(kind, incident, name, index, now, key=key)


def _maintenance_summary(composer: Composer, rules: Rules, summary: str | None) -> OutgoingMessage:
    """Saturday's warehouse window: a job failure resolved meanwhile, a slow query open."""
    start = parse_instant("2026-11-28T02:00:00", rules.team.zone)
    window = one_off(
        "mw_sample", "warehouse upgrade", start, start + timedelta(hours=4), ["growth.aggregate"]
    )
    failed, now = _incident(
        rules,
        {"pipeline": "growth.aggregate", "type": "job_failed", "summary": "backfill broke"},
        "2026-11-28T02:30:00",
    )
    failed = failed.model_copy(
        update={
            "id": "sample-1",
            "status": "resolved",
            "resolved_at": now,
            "resolved_by": "airflow",
        }
    )
    slow, _ = _incident(
        rules,
        {
            "pipeline": "growth.aggregate",
            "type": "slow_query",
            "summary": summary or "growth query p95 at 40 s for the investor report",
        },
        "2026-11-28T03:00:00",
    )
    owner = rules.pipeline("growth.aggregate").owners.primary or rules.team.engineers[0].name
    assert window.once is not None
    return composer.maintenance_summary(window, window.once, [failed, slow], owner)


def _digest(composer: Composer, rules: Rules, summary: str | None) -> OutgoingMessage:
    """Kshama's pages past her budget on a Tuesday morning: two job failures, one of
    them acknowledged by now."""
    tuesday = "2026-11-24T10:0{}:00"
    first, now = _incident(
        rules,
        {
            "pipeline": "profit.aggregate",
            "type": "aggregation_error",
            "summary": summary or "aggregate profit failed: schema mismatch",
        },
        tuesday.format(1),
    )
    second, _ = _incident(
        rules,
        {"pipeline": "profit.aggregate", "type": "job_failed", "summary": "rerun failed"},
        tuesday.format(2),
    )
    acknowledged = {"status": "acknowledged", "acknowledged_by": "Aruna Sharma"}
    second = second.model_copy(update={"id": "sample-2", **acknowledged})
    return composer.digest("Kshama Kumar", [first, second], 600, "sample:digest", now)
