"""The router on the three test hosts of tests.hosts, for the drills (tests/test_hosts.py)
and the failover soak (tests/soak.py): started as issue 20 lays it out, fed by a sender
that retries, and counted from the SMTP server's inbox."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from router.state import keys
from tests.deployment import Deployment, received
from tests.hosts import Hosts
from tests.mailservers import SmtpInbox
from tests.stack import TOKEN
from tests.support import RULES_DIR


def start_router(directory: Path, hosts: Hosts, smtp_port: int, **settings: str) -> Deployment:
    """The API on host 1; a worker and a scheduler on hosts 2 and 3 (in that order in
    each host's `processes`); a 202 once a replica holds the batch."""
    deployment = Deployment(
        directory,
        None,
        smtp_port,
        RULES_DIR,
        redis_url=hosts.url(0),
        host=hosts[1].address,
        smtp_host=hosts.gateway,
        ROUTER_REDIS_MIN_REPLICAS="1",
        ROUTER_REDELIVER_AFTER_S="5",
        ROUTER_TIMER_LEASE_S="10",
        **settings,
    )
    hosts[1].processes.append(deployment.api(prefix=hosts[1].prefix))
    for number in (2, 3):
        host = hosts[number]
        host.processes.append(deployment.worker(prefix=host.prefix))
        host.processes.append(deployment.scheduler(prefix=host.prefix))
    return deployment


def p1_events(tag: str, count: int) -> list[dict[str, Any]]:
    """`count` distinct P1s of the growth aggregate: each opens an incident and pages."""
    return [
        {
            "pipeline": "growth.aggregate",
            "type": "job_failed",
            "severity": "P1",
            "dedup_key": f"{tag}-{n}",
            "summary": f"Growth job {tag}-{n} failed",
        }
        for n in range(count)
    ]


class Sender:
    """Posts batches as a sender that retries does: a batch refused (503) or unanswered
    is posted again until it gets a 202. Counts what it was told."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.accepted: set[str] = set()  # dedup keys of the events with a 202
        self.refused_at: list[float] = []  # answers other than 202, and no answers
        self.accepted_at: list[float] = []
        self.client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15)

    def post(self, events: list[dict[str, Any]], give_up_s: float = 120) -> None:
        deadline = time.monotonic() + give_up_s
        while time.monotonic() < deadline:
            try:
                answer = self.client.post(f"{self.url}/v1/events", json=events)
                if answer.status_code == 202:
                    self.accepted_at.append(time.monotonic())
                    self.accepted.update(str(e["dedup_key"]) for e in events)
                    return
                assert answer.status_code == 503, answer.text
            except httpx.HTTPError:
                pass
            self.refused_at.append(time.monotonic())
            time.sleep(0.2)
        raise AssertionError(f"a batch was refused for {give_up_s:.0f} s")

    @property
    def refused(self) -> int:
        return len(self.refused_at)

    def recovered_s(self, since: float, until: float = float("inf")) -> float:
        """From `since` to the first 202 after the last refusal before `until` (0 if
        none was refused in between)."""
        refused = [t for t in self.refused_at if since <= t < until]
        if not refused:
            return 0.0
        return min(t for t in self.accepted_at if t > refused[-1]) - since

    def close(self) -> None:
        self.client.close()


def messages(inbox: SmtpInbox) -> Counter[tuple[str, str]]:
    """(kind, idempotency key) of every message received, with how often it came
    unmarked: a copy marked as a possible repeat is the router saying it may be one."""
    return Counter((got.kind, got.key) for got in received(inbox) if not got.marked_repeat)


def marked_repeats(inbox: SmtpInbox) -> int:
    return sum(got.marked_repeat for got in received(inbox))


def pages(inbox: SmtpInbox) -> Counter[str]:
    """Each page's idempotency key, with how often it came (marked repeats too)."""
    return Counter(got.key for got in received(inbox) if got.kind == "page")


def incidents(deployment: Deployment, statuses: Iterable[str] = ("triggered", "resolved")) -> int:
    with deployment.client() as client:
        return sum(int(client.zcard(keys.status(status))) for status in statuses)


def folded_keys(deployment: Deployment) -> set[str]:
    """The dedup key of every incident, through GET /v1/incidents, page by page."""
    found: set[str] = set()
    after: str | None = None
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        while True:
            query = f"&next={after}" if after else ""
            page = client.get(f"{deployment.url}/v1/incidents?limit=500{query}").json()
            found |= {str(incident["dedup_key"]) for incident in page["incidents"]}
            after = page["next"]
            if after is None:
                return found
