"""The router's HTTP API as the bench uses it: post events, read /metrics and page
through /v1/incidents. Nothing else: no Redis key and no router module."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx

from bench.services import AUTH

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class RouterClient:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers=AUTH, timeout=60)

    def close(self) -> None:
        self.http.close()

    def post(self, body: bytes) -> dict[str, Any]:
        """POST /v1/events with an encoded body; anything but a 202 stops the scenario."""
        answer = self.http.post(
            "/v1/events", content=body, headers={"Content-Type": "application/json"}
        )
        if answer.status_code != 202:
            raise RuntimeError(
                f"bench: POST /v1/events answered {answer.status_code}: {answer.text}"
            )
        said: dict[str, Any] = answer.json()
        return said

    def counter(self, name: str, **labels: str) -> float:
        """The sum of a counter's samples (router_events_total, ...) whose labels include
        `labels`, from /metrics: what every api process shows alike."""
        text = self.http.get("/metrics").raise_for_status().text
        total = 0.0
        for metric, said, value in _SAMPLE.findall(text):
            if metric != name:
                continue
            have = dict(_LABEL.findall(said))
            if all(have.get(key) == want for key, want in labels.items()):
                total += float(value)
        return total

    def folded(self, pipeline: str | None = None) -> int:
        """Events folded so far, of one pipeline or all (a redelivered event is not
        counted twice)."""
        labels = {} if pipeline is None else {"pipeline": pipeline}
        return int(self.counter("router_events_total", **labels))

    def incidents(self, pipeline: str, status: str = "open") -> Iterator[dict[str, Any]]:
        """Every incident of `pipeline` with `status`, 500 a page."""
        cursor: str | None = None
        while True:
            query: dict[str, str | int] = {"pipeline": pipeline, "status": status, "limit": 500}
            if cursor is not None:
                query["next"] = cursor
            page = self.http.get("/v1/incidents", params=query).raise_for_status().json()
            yield from page["incidents"]
            cursor = page["next"]
            if cursor is None:
                return
