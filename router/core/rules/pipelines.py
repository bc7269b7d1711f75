"""pipelines.yaml: what each pipeline is for, who owns it, its runbook and deadlines."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from router.core.rules.base import ClockTime, Strict

_PIPELINE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class Owners(Strict):
    primary: str | None = None
    secondary: str | None = None

    def names(self) -> list[str]:
        return [name for name in (self.primary, self.secondary) if name]


class EmailAction(Strict):
    """Email a contact of team.yaml when an incident of the type opens (deferred to the
    next business-hours start like the page), unless it is resolved by then."""

    email: str


_DEFAULT_BODY = (
    '{"incident": "{{ incident.id }}", "pipeline": "{{ incident.pipeline }}", '
    '"type": "{{ incident.type }}", "summary": {{ incident.summary | tojson }}}'
)


class Webhook(Strict):
    """An outgoing HTTP call, signed with HMAC-SHA256 over the timestamp and the body."""

    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    body: str = _DEFAULT_BODY
    """A Jinja2 template: `incident`, `pipeline` and `by` (who pressed, for a button)."""
    secret_env: str
    """The environment variable holding the signing secret (never the secret itself)."""
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"bad url {value!r}: http or https")
        return value


class WebhookAction(Strict):
    """Call a webhook: by itself when the incident pages, or, with `confirm`, when someone
    presses its button in the page email or on the console."""

    webhook: Webhook
    label: str = "Run the runbook action"
    confirm: bool = False


Action = EmailAction | WebhookAction


class Deadline(Strict):
    """`expects` must arrive for each local day by `at`, or a `raises` incident opens."""

    name: str
    at: ClockTime
    expects: str = "data_ready"
    raises: str = "data_late"


class Pipeline(Strict):
    id: str
    name: str
    purpose: Literal["experiments", "investors"]
    owners: Owners = Field(default_factory=Owners)
    source_timezone: str | None = None
    runbook: dict[str, str] = Field(default_factory=dict)
    actions: dict[str, list[Action]] = Field(default_factory=dict)
    """What the router does by itself when an incident of a type opens."""
    sla: list[str] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    built_from: list[str] = Field(default_factory=list)
    """Pipelines whose data this one is built from: their problems hold its report."""
    report_to: list[str] | None = None
    """Analysts told when this pipeline's report is ready; None means every analyst."""

    @field_validator("id")
    @classmethod
    def _dotted_id(cls, value: str) -> str:
        if not _PIPELINE_ID.match(value):
            raise ValueError(f"bad pipeline id {value!r}: use dotted lowercase words")
        return value


class Pipelines(Strict):
    pipelines: list[Pipeline] = Field(min_length=1)
