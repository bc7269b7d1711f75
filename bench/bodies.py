"""The request bodies the bench sends: bare ones (the fewest fields each side accepts)
and realistic ones, shaped as the real clients send them.

- Alertmanager's client is Prometheus: every alert it posts to /api/v2/alerts carries
  labels, annotations, `startsAt`, `endsAt` (its "valid until") and `generatorURL`.
- The router's clients are pipelines: an Airflow `on_failure_callback` posts the
  pipeline, the type, a dedup key of dag/task/run, a summary, a link to the task's log,
  `occurred_at`, `source` and a few details from the task instance.

Bodies are encoded once, before the clock starts: the load generators post bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

Bodies = Literal["bare", "realistic"]
PIPELINES = (
    "profit.unit", "profit.aggregate", "growth.aggregate", "growth.daily",
    "engagement.aggregate",
)  # fmt: skip
AIRFLOW = "https://airflow.example.com"
PROMETHEUS = "http://prometheus-0.monitoring:9090"
RUN_ID = "scheduled__2026-12-01T00:00:00+00:00"


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- the router -------------------------------------------------------------------------

BARE_EVENT = {
    "pipeline": "growth.aggregate", "type": "slow_query", "severity": "P4", "summary": "bench",
}  # fmt: skip
"""The event the bench sent before it sent realistic ones: no dedup key, no link."""


def dag_of(pipeline: str) -> str:
    return pipeline.replace(".", "_")


@dataclass(frozen=True)
class Task:
    """The task instance an Airflow callback reports on."""

    pipeline: str
    task_id: str
    run_id: str = RUN_ID
    try_number: int = 1

    @property
    def dag_id(self) -> str:
        return dag_of(self.pipeline)

    @property
    def dedup_key(self) -> str:
        return f"{self.dag_id}/{self.task_id}/{self.run_id}"


def airflow_event(
    task: Task, event_type: str, severity: str | None, occurred_at: datetime
) -> dict[str, Any]:
    """What an `on_failure_callback` (or, for a slow task, an SLA-miss callback) posts."""
    log_url = (
        f"{AIRFLOW}/dags/{task.dag_id}/grid?dag_run_id={quote(task.run_id, safe='')}"
        f"&task_id={task.task_id}&tab=logs"
    )
    failed = event_type != "slow_query"
    summary = (
        f"{task.dag_id}.{task.task_id} failed on try {task.try_number} of 3"
        if failed
        else f"{task.dag_id}.{task.task_id} running 3.2x its median duration"
    )
    event: dict[str, Any] = {
        "pipeline": task.pipeline,
        "type": event_type,
        "dedup_key": task.dedup_key,
        "summary": summary,
        "links": [{"href": log_url, "text": "Task log"}],
        "occurred_at": _iso(occurred_at),
        "source": "airflow",
        "details": {
            "dag_id": task.dag_id,
            "task_id": task.task_id,
            "run_id": task.run_id,
            "try_number": task.try_number,
            "max_tries": 3,
            "hostname": "airflow-worker-2.airflow.svc.cluster.local",
            "operator": "PythonOperator",
            "duration_s": 2460.4,
        },
    }
    if severity is not None:
        event["severity"] = severity
    return event


def summary_task(subject: str, dag_id: str) -> str | None:
    """The task id in a page's subject ("[P1] Pipeline: dag.task failed ..."), when the
    message is about `dag_id`: how a scenario tells its own messages."""
    head, marker, rest = subject.partition(f": {dag_id}.")
    return rest.split(" ", 1)[0] if marker and head else None


def router_body(bodies: Bodies, per_request: int, now: datetime) -> Any:
    """What the ingest scenario posts to /v1/events: one event, or a list. Realistic
    batches are distinct tasks of one DAG, as a run's failures are."""
    if bodies == "bare":
        return BARE_EVENT if per_request == 1 else [BARE_EVENT] * per_request
    events = [
        airflow_event(Task("profit.aggregate", f"aggregate_{n:03d}"), "job_failed", None, now)
        for n in range(per_request)
    ]
    return events[0] if per_request == 1 else events


def storm(
    pipeline: str, keys: int, per_request: int, now: datetime, task: str = "partition"
) -> list[dict[str, Any]]:
    """One request of a storm: slow-task warnings (P4: recorded, never paged, so the fold
    is measured and not the mail) on `keys` tasks of `pipeline`, in turn."""
    return [
        airflow_event(Task(pipeline, f"{task}_{n % keys:03d}"), "slow_query", "P4", now)
        for n in range(per_request)
    ]


# -- Alertmanager -----------------------------------------------------------------------

BARE_ALERT_LABELS = {"pipeline": "growth.aggregate", "severity": "info"}


def prometheus_alert(n: int, now: datetime) -> dict[str, Any]:
    """An alert as Prometheus's notifier posts it: `endsAt` is its "valid until", four
    evaluation intervals on, renewed by each evaluation (an hour here, so that it stays
    firing however long the load runs)."""
    task = f"aggregate_{n:03d}"
    expr = f'airflow_task_failures_total{{dag_id="profit_aggregate",task_id="{task}"}} > 0'
    return {
        "labels": {
            "alertname": "AirflowTaskFailed",
            "severity": "critical",
            "instance": "airflow-worker-2:9102",
            "job": "airflow",
            "dag_id": "profit_aggregate",
            "task_id": task,
            "pipeline": "profit.aggregate",
            "team": "data-engineering",
        },
        "annotations": {
            "summary": f"profit_aggregate.{task} failed",
            "description": (
                f"Airflow task {task} of DAG profit_aggregate failed on try 1 of 3 "
                f"(run {RUN_ID}); the aggregate profit report waits for it."
            ),
            "runbook_url": "https://wiki.example.com/runbooks/airflow-task-failed",
        },
        "startsAt": _iso(now - timedelta(minutes=2)),
        "endsAt": _iso(now + timedelta(hours=1)),
        "generatorURL": f"{PROMETHEUS}/graph?g0.expr={quote(expr, safe='')}&g0.tab=1",
    }


def alertmanager_body(bodies: Bodies, per_request: int, now: datetime) -> list[dict[str, Any]]:
    """What the ingest scenario posts to /api/v2/alerts (always a list)."""
    if bodies == "bare":
        return [
            {"labels": {"alertname": f"Bench{n}", **BARE_ALERT_LABELS}} for n in range(per_request)
        ]
    return [prometheus_alert(n, now) for n in range(per_request)]
