"""The OpenAPI schema says what the hand-read bodies really are (so clients and a
schema-driven fuzzer can build valid events) and every status each endpoint answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from router.core.rules import Rules

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    found = model.model_json_schema(ref_template=_REF)
    components.update(found.pop("$defs", {}))
    components[model.__name__] = found
    return {"$ref": _REF.format(model=model.__name__)}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}},
    }


_ERRORS = {
    "400": "invalid request: `errors` names each field",
    "401": "missing or wrong credential",
    "404": "not found",
    "413": "body over 512 KB",
    "429": "rate limit: see Retry-After",
    "503": "the store is unreachable: see Retry-After",
}


def describe_bodies(spec: dict[str, Any], rules: Rules) -> dict[str, Any]:
    from router.api.alertmanager import AmNotification
    from router.api.events import MAX_BATCH
    from router.api.pagerduty import PdEvent
    from router.core.events import EventIn

    components: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = {
        "type": "object",
        "required": ["status", "message", "errors"],
        "properties": {
            "status": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
    }
    event = _schema(EventIn, components)
    components["EventIn"]["properties"]["pipeline"]["enum"] = sorted(rules.pipelines)
    bodies = {
        "/v1/events": {
            "oneOf": [
                event,
                {"type": "array", "items": event, "minItems": 1, "maxItems": MAX_BATCH},
            ]
        },
        "/v2/enqueue": _schema(PdEvent, components),
        "/v1/alertmanager": _schema(AmNotification, components),
    }
    spec["paths"].setdefault("/v1/events", {})["post"] = {  # a Starlette route (events.py)
        "summary": "Post Events",
        "description": "One event or an array of up to 1,000, queued as one task.",
        "operationId": "post_events",
        "responses": {"202": {"description": "accepted: each event's id and dedup key"}},
    }
    for path, body in bodies.items():
        operation = spec["paths"][path]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)  # FastAPI's default; this API answers 400
            wanted = ["400", "503"]
            if path.startswith("/v1/") or path.startswith("/v2/"):
                wanted += ["401", "429"]
            if method == "post":
                wanted.append("413")
            if "{" in path:
                wanted.append("404")
            for status in wanted:
                answers.setdefault(status, _error(_ERRORS[status]))
    _as_checked(spec, rules)
    return spec


# What the checks refuse, said in the schema, so a client (or a fuzzer) building a request
# from it builds one the router takes; what no schema can say is in docs/limits.md.
_TEXT = r"\S"  # text fields are stripped, then must not be empty
_WEB_URL = r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~%-]+(:[0-9]{1,5})?([/?#][^\t\n\r ]*)?$"
_DURATION = r"^\s*[0-9]+\s*[smhd]\s*$"
_SEVERITIES = ["P1", "P2", "P3", "P4", "critical", "error", "warning", "info"]
_INSTANT = "ISO 8601, between 1970 and 2200; without an offset, the pipeline's local time"


def _as_checked(spec: dict[str, Any], rules: Rules) -> None:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    engineers = sorted(person.name for person in rules.team.engineers)

    def fields(model: str) -> dict[str, Any]:
        found: dict[str, Any] = schemas.get(model, {}).get("properties", {})
        return found

    def text(field: dict[str, Any]) -> None:
        for branch in field.get("anyOf", [field]):
            if branch.get("type") == "string":
                branch["pattern"] = _TEXT

    event = fields("EventIn")
    text(event["type"])
    text(event["dedup_key"])
    event["occurred_at"]["description"] = _INSTANT
    event["details"]["description"] = "At most ROUTER_MAX_DETAILS_BYTES (16 KB) as compact JSON"
    for link in ("LinkIn", "PdLink"):
        fields(link)["href"]["pattern"] = _WEB_URL
    pd = schemas["PdEvent"]
    text(pd["properties"]["dedup_key"])
    pd["anyOf"] = [  # a trigger carries a payload; the other actions name their incident
        {
            "properties": {"event_action": {"const": "trigger"}, "payload": {"type": "object"}},
            "required": ["payload"],
        },
        {
            "properties": {
                "event_action": {"enum": ["acknowledge", "resolve"]},
                "dedup_key": {"type": "string"},
            },
            "required": ["dedup_key"],
        },
    ]
    alert = fields("AmAlert")
    text(alert["fingerprint"])
    alert["fingerprint"]["maxLength"] = 255
    alert["annotations"]["properties"] = {"summary": {"type": "string", "maxLength": 1024}}
    alert["labels"].update(_am_labels(rules))
    if "SnoozeIn" in schemas:
        fields("SnoozeIn")["for"].update(type="string", pattern=_DURATION)
    for model in ("OverrideIn", "AbsenceIn"):
        if "engineer" in fields(model):
            fields(model)["engineer"]["enum"] = engineers
    for when in ("start", "end"):
        if when in fields("OverrideIn"):
            fields("OverrideIn")[when]["format"] = "date-time"
    window = fields("WindowIn")
    if window:
        for branch in window["pipelines"]["anyOf"]:
            if branch.get("type") == "array":
                branch.update(minItems=1, items={"type": "string", "enum": sorted(rules.pipelines)})
        for branch in window["types"]["anyOf"]:
            if branch.get("type") == "array":
                branch.update(
                    minItems=1, items={"type": "string", "enum": sorted(rules.event_types())}
                )
        for when in ("start", "end"):
            for branch in window[when].get("anyOf", [window[when]]):
                if branch.get("type") == "string":
                    branch["format"] = "date-time"
        text(window["reason"])
    known = {("/v1/oncall.ics", "engineer"): engineers, ("/v1/incidents", "pipeline"): None}
    for (path, name), names in known.items():
        for parameter in spec["paths"].get(path, {}).get("get", {}).get("parameters", []):
            if parameter["name"] == name:
                allowed = names if names is not None else sorted(rules.pipelines)
                parameter["schema"] = {
                    "anyOf": [{"type": "string", "enum": allowed}, {"type": "null"}]
                }
    _html_pages(spec)


def _am_labels(rules: Rules) -> dict[str, Any]:
    """The labels an alert needs: `pipeline`, and `type` or else `alertname` (the type,
    and the summary when no annotation gives one)."""
    return {
        "required": ["pipeline"],
        "properties": {
            "pipeline": {"type": "string", "enum": sorted(rules.pipelines)},
            "severity": {"type": "string", "enum": _SEVERITIES},
            "type": {"type": "string", "maxLength": 100},
            "alertname": {"type": "string", "maxLength": 1024},
        },
        "anyOf": [
            {"required": ["type"], "properties": {"type": {"pattern": _TEXT}}},
            {
                "required": ["alertname"],
                "properties": {
                    "type": {"maxLength": 0},
                    "alertname": {"pattern": _TEXT, "maxLength": 100},
                },
            },
        ],
    }


def _html_pages(spec: dict[str, Any]) -> None:
    """The email-link pages answer people, in HTML (their 413 and 503 are JSON)."""
    page = {"schema": {"type": "string"}}
    for path, operations in spec["paths"].items():
        if path.startswith("/email/"):
            for operation in operations.values():
                for status, answer in operation["responses"].items():
                    if status in ("200", "404"):
                        answer["content"] = {"text/html": page}
                    elif status == "400":  # a bad link is a page; a bad request, JSON
                        answer.setdefault("content", {})["text/html"] = page
    ready = spec["paths"].get("/readyz", {}).get("get", {}).get("responses", {})
    if "503" in ready:
        ready["503"] = {
            "description": "not ready: Redis unreachable, or no worker heartbeat",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "not ready"}},
                    }
                }
            },
        }
