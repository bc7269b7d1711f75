"""The OpenAPI schema says what the hand-read bodies really are (so clients and a
schema-driven fuzzer can build valid events) and every status each endpoint answers."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from router.rules import Rules

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
    from router.events import EventIn

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
    return spec
