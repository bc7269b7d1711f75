"""Listings of any length: GET /v1/incidents pages with a cursor, and the console's
pipeline filter reads only the page it shows. Against the running router, with tens of
thousands of incidents written straight into Redis (tests/bulk.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from router.core.incidents import Incident
from router.state import keys
from router.state.writer import STATUSES
from tests.bulk import an_incident, put_all, put_new, write_incidents
from tests.stack import Stack, running_stack
from tests.support import RULES_DIR, pacific
from tests.test_console import browser, sign_in

START = pacific("2026-10-01 00:00")
PIPELINES = ["growth.daily", "engagement.aggregate", "profit.unit", "profit.aggregate"]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    outbox = tmp_path_factory.mktemp("listing") / "outbox"
    with running_stack(RULES_DIR, outbox, pacific("2026-11-24 10:00")) as stack:
        yield stack


@pytest.fixture
def stack(running: Stack) -> Stack:
    with running.redis.pipeline(transaction=False) as pipe:
        for key in running.redis.scan_iter("ar:*", count=5000):
            if key != b"ar:workers":
                pipe.unlink(key)
        pipe.execute()
    return running


def _order(incidents: list[Incident]) -> list[str]:
    """The listing's order: newest first, equal opening times by the greater id first."""
    ranked = sorted(incidents, key=lambda i: (i.opened_at.timestamp(), i.id), reverse=True)
    return [i.id for i in ranked]


def _pages(
    client: httpx.Client, params: dict[str, Any], between: Any = None
) -> tuple[list[str], list[int]]:
    """Every id of a listing, page by page, following `next`; `between(n)` runs after the
    nth page. The ids in order, and each page's size."""
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    while True:
        answer = client.get(
            "/v1/incidents", params={**params, **({"next": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        said = answer.json()
        seen += [incident["id"] for incident in said["incidents"]]
        sizes.append(len(said["incidents"]))
        cursor = said["next"]
        if between is not None:
            between(len(sizes))
        if cursor is None:
            return seen, sizes


def test_50000_incidents_page_by_page_each_once_while_more_arrive(stack: Stack) -> None:
    """50,000 incidents, seven opened at each second (ties are common: a batch is folded
    at one instant); while paging, 300 newer ones arrive and 1,000 not yet listed are
    acknowledged or resolved. Every incident there at the start is listed exactly once,
    in order, in pages of at most `limit`."""
    store = stack.runtime.engine.store
    begun = time.monotonic()
    made = write_incidents(
        store, 50_000, START, PIPELINES, ("triggered", "acknowledged", "resolved"), tie=7
    )
    written_s = time.monotonic() - begun
    expected = _order(made)
    last = set(expected[-20_000:])  # listed in the second half of the pass
    later = [i for i in made if i.id in last and i.status != "resolved"]

    def meanwhile(page: int) -> None:
        if page == 5:  # newer incidents come before the cursor: not listed in this pass
            write_incidents(store, 300, START + timedelta(days=30), PIPELINES)
        if page == 10:  # still to come: they move to another status, keeping their place
            changed = [
                i.model_copy(update={"status": "resolved" if n % 2 else "acknowledged"})
                for n, i in enumerate(later[:1000])
            ]
            put_all(store, changed)

    begun = time.monotonic()
    with stack.client() as client:
        seen, sizes = _pages(client, {"limit": 500}, meanwhile)
    paged_s = time.monotonic() - begun
    print(
        f"\nwrote 50,000 incidents in {written_s:.1f}s; paged through them in "
        f"{len(sizes)} pages of at most 500 in {paged_s:.1f}s"
    )
    assert max(sizes) <= 500 and sizes[:-1] == [500] * (len(sizes) - 1)
    assert len(seen) == len(set(seen)) == 50_000
    assert seen == expected


def test_open_is_triggered_and_acknowledged_merged_in_order(stack: Stack) -> None:
    store = stack.runtime.engine.store
    made = write_incidents(
        store, 2_500, START, PIPELINES, ("triggered", "acknowledged", "resolved"), tie=3
    )
    with stack.client() as client:
        seen, sizes = _pages(client, {"status": "open", "limit": 100})
        assert seen == _order([i for i in made if i.status != "resolved"])
        assert len(sizes) == 17 and max(sizes) <= 100  # 1,667 open: 16 full pages and 67
        default, _ = _pages(client, {"status": "resolved"})  # 100 a page by default
        assert default == _order([i for i in made if i.status == "resolved"])
        first = client.get("/v1/incidents", params={"pipeline": "growth.daily"}).json()
        assert len(first["incidents"]) == 100 and first["next"]
        assert {i["pipeline"] for i in first["incidents"]} == {"growth.daily"}
        growth, _ = _pages(client, {"pipeline": "growth.daily", "status": "open", "limit": 500})
        wanted = [i for i in made if i.pipeline == "growth.daily" and i.status != "resolved"]
        assert growth == _order(wanted)


def test_a_page_follows_on_when_its_last_incident_leaves_the_listing(stack: Stack) -> None:
    """100 open incidents opened at one instant: the cursor's own incident is resolved
    before the next page is asked for, and the next page starts just after its place."""
    store = stack.runtime.engine.store
    made = write_incidents(store, 100, START, PIPELINES, ("triggered", "acknowledged"), tie=100)
    by_id = {i.id: i for i in made}
    with stack.client() as client:
        first = client.get("/v1/incidents", params={"status": "open", "limit": 30}).json()
        shown = [i["id"] for i in first["incidents"]]
        put_all(store, [by_id[shown[-1]].model_copy(update={"status": "resolved"})])
        rest, _ = _pages(client, {"status": "open", "limit": 30, "next": first["next"]})
    assert shown + rest == _order(made)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit: Input should be greater than or equal to 1"),
        ({"limit": 501}, "query.limit: Input should be less than or equal to 500"),
        ({"limit": "ten"}, "query.limit: Input should be a valid integer"),
        ({"next": "not-a-cursor"}, "next: not a cursor from this API"),
        ({"next": "bmFuOmFi"}, "next: not a cursor from this API"),  # "nan:ab"
        ({"next": "MS41Olh4"}, "next: not a cursor from this API"),  # "1.5:Xx"
        ({"next": "x" * 300}, "next: not a cursor from this API"),
        ({"pipeline": "profit.total"}, "pipeline: unknown 'profit.total'"),
        ({"status": "open-ish"}, "query.status: Input should be"),
    ],
)
def test_bad_listing_parameters_are_400_naming_the_field(
    stack: Stack, params: dict[str, Any], field: str
) -> None:
    with stack.client() as client:
        answer = client.get("/v1/incidents", params=params)
        # a well-formed position is a place in the listing, whether or not an incident is
        # there now ("1.5:abc": before every incident)
        nowhere = client.get("/v1/incidents", params={"next": "MS41OmFiYw"})
    assert nowhere.status_code == 200 and nowhere.json() == {"incidents": [], "next": None}
    assert answer.status_code == 400, answer.text
    said = answer.json()
    assert said["status"] == "bad request"
    assert any(e.startswith(field) for e in said["errors"]), said


def test_the_schema_describes_the_page(stack: Stack) -> None:
    with stack.client() as client:
        schema = client.get("/openapi.json").json()
    listing = schema["paths"]["/v1/incidents"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert (
        params["limit"]["schema"]["maximum"] == 500 and params["limit"]["schema"]["default"] == 100
    )
    assert {"next", "status", "pipeline"} <= set(params)
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    said = schema["components"]["schemas"][page.rsplit("/", 1)[1]]
    assert set(said["properties"]) == {"incidents", "next"}
    assert "400" in listing["responses"]


def _keyspace_hits(stack: Stack) -> int:
    return int(stack.redis.info("stats")["keyspace_hits"])


def test_the_console_filter_reads_only_the_page(stack: Stack) -> None:
    """20,000 open incidents, 5,000 on growth.daily: the filtered page reads its 50
    incidents and a few counts, not the 20,000 (Redis counts every key a command finds)."""
    write_incidents(stack.runtime.engine.store, 20_000, START, PIPELINES, ("triggered",))
    with browser(stack) as client:
        sign_in(client, stack, "biswa.rath@example.com")
        before = _keyspace_hits(stack)
        page = client.get("/", params={"pipeline": "growth.daily", "page": 3})
        hits = _keyspace_hits(stack) - before
    assert page.status_code == 200
    assert "5000 incident(s), page 3 of 100" in page.text
    assert len(re.findall(r'href="/incidents/', page.text)) == 50
    print(f"\nthe filtered page of 50 (5,000 on the pipeline, 20,000 open) found {hits} keys")
    assert hits < 1_000, hits  # the page, the counts, the session, the roster; no more


def test_incidents_stored_before_the_pipeline_index_are_indexed_once(stack: Stack) -> None:
    """Incidents written before the per-pipeline sets existed (here: the sets deleted) are
    put in them by IncidentStore.index_pipelines, which the API runs at start-up."""
    store = stack.runtime.engine.store
    made = write_incidents(
        store, 3_000, START, PIPELINES, ("triggered", "acknowledged", "resolved")
    )
    for pipeline in PIPELINES:
        for status in STATUSES:
            stack.redis.delete(keys.pipeline_status(pipeline, status))
    with stack.client() as client:
        assert (
            client.get("/v1/incidents", params={"pipeline": "growth.daily"}).json()["incidents"]
            == []
        )
        assert store.index_pipelines() == 3_000
        assert store.index_pipelines() == 0  # marked done: no second pass
        assert stack.redis.exists(keys.PIPELINE_INDEX)
        growth, _ = _pages(client, {"pipeline": "growth.daily", "limit": 500})
    assert growth == _order([i for i in made if i.pipeline == "growth.daily"])
    for status in STATUSES:
        assert store.count(status, "growth.daily") == 250


def test_the_bulk_writer_writes_what_the_store_does(stack: Stack) -> None:
    """tests/bulk.py's fast path for new incidents writes the keys IncidentStore.put does."""
    store = stack.runtime.engine.store
    made = [
        an_incident(pipeline, START + timedelta(seconds=n // 2), status)
        for n, (pipeline, status) in enumerate((p, s) for p in PIPELINES for s in STATUSES)
    ]
    put_all(store, made)
    through_put = stack.contents()
    stack.redis.delete(*through_put)
    put_new(store, made)
    assert stack.contents() == through_put
    assert len(through_put) > len(made)
