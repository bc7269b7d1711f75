"""The Redis store and timers under concurrency, against the real Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from router.core.events import parse_event
from router.core.fold import Arrival
from router.core.rules import Rules
from router.service.engine import new_id
from router.state.store import IncidentStore
from router.state.timers import Timer, claim_due, schedule_in
from tests.redis_server import session_redis
from tests.support import pacific

DB = 12
NOW = pacific("2026-11-24 10:00")


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = session_redis().client(DB)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def test_concurrent_triggers_with_one_key_make_one_incident(
    client: redis.Redis, rules: Rules
) -> None:
    store = IncidentStore(client, rules)
    event = parse_event({"pipeline": "profit.aggregate", "type": "aggregation_error"}, rules, NOW)
    start = threading.Barrier(8)

    def send(n: int) -> None:
        start.wait()
        for m in range(10):
            store.fold(Arrival(event, f"e{n}-{m}", new_id(), NOW), NOW)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (incident,) = store.listing(None)
    assert incident.events == 80
    assert len(store.timeline(incident.id)) == 80 + 1  # 80 events and one decision


def test_two_schedulers_never_claim_one_timer(client: redis.Redis) -> None:
    pipe = client.pipeline()
    for n in range(2000):
        schedule_in(pipe, Timer(incident=f"i{n}", round=0, step=0), 100.0)
    pipe.execute()
    claimed: list[list[str]] = [[], []]
    # Lockstep rounds: both claim at once each round, so neither can drain the set before
    # the other starts (a fast claimer once took all 2,000 alone and the test failed).
    rounds = threading.Barrier(2)

    def claim(slot: int) -> None:
        for _ in range(2000 // 50):
            rounds.wait()
            claimed[slot].extend(claim_due(client, 200.0, lease_s=60, limit=50))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed[0]) + len(claimed[1]) == 2000
    assert not set(claimed[0]) & set(claimed[1])
    assert claimed[0] and claimed[1]  # both really ran


def test_a_lease_that_runs_out_is_claimed_again(client: redis.Redis) -> None:
    pipe = client.pipeline()
    schedule_in(pipe, Timer(incident="i1", round=0, step=2), 100.0)
    pipe.execute()
    assert claim_due(client, 99.0, lease_s=10) == []  # not due yet
    assert claim_due(client, 100.0, lease_s=10) == ["step:i1:0:2"]
    assert claim_due(client, 105.0, lease_s=10) == []  # leased
    assert claim_due(client, 110.0, lease_s=10) == ["step:i1:0:2"]  # its worker died


def test_a_retried_batch_folds_no_event_twice(client: redis.Redis, rules: Rules) -> None:
    store = IncidentStore(client, rules)
    event = parse_event({"pipeline": "profit.aggregate", "type": "aggregation_error"}, rules, NOW)
    first = store.fold(Arrival(event, "evt-1", new_id(), NOW), NOW)
    again = store.fold(Arrival(event, "evt-1", new_id(), NOW), NOW)  # the same event, redelivered
    later = store.fold(Arrival(event, "evt-2", new_id(), NOW), NOW)
    assert first is not None and again is None and later is not None
    (incident,) = store.listing(None)
    assert incident.events == 2


def test_a_key_resolved_and_opened_again_in_one_batch_points_at_the_open_incident(
    client: redis.Redis, rules: Rules
) -> None:
    """The writer groups the index commands of a batch by key, removals first: a dedup
    key resolved and triggered again in one batch stays open, on the new incident, and
    the statuses list each incident once, where it is now."""
    store = IncidentStore(client, rules)
    sent = {"pipeline": "profit.aggregate", "type": "aggregation_error", "dedup_key": "run-1"}
    trigger = parse_event(sent, rules, NOW)
    resolve = parse_event({**sent, "action": "resolve"}, rules, NOW)
    events = [trigger, resolve, trigger]
    store.fold_many([Arrival(e, f"e{n}", new_id(), NOW) for n, e in enumerate(events)], NOW)
    statuses = {incident.id: incident.status for incident in store.listing(None)}
    assert sorted(statuses.values()) == ["resolved", "triggered"]
    (open_id,) = [incident_id for incident_id, status in statuses.items() if status == "triggered"]
    for index in ("ar:open:profit.aggregate", "ar:open:profit.aggregate:aggregation_error"):
        assert client.hget(index, "run-1") == open_id.encode()
