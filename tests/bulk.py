"""Many incidents straight into Redis, pipelined: through the store's own write path
(IncidentStore.put, which keeps every index), or for new ones the same keys in a few
commands a thousand: tens of thousands in a second."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from router.core.incidents import Incident, Status
from router.service.engine import new_id
from router.state import keys
from router.state.store import IncidentStore

CHUNK = 2000


def an_incident(pipeline: str, opened_at: datetime, status: Status = "triggered") -> Incident:
    return Incident(
        id=new_id(),
        dedup_key=new_id(),
        pipeline=pipeline,
        type="dedup_error",
        summary="bulk",
        severity="P4",
        category=None,
        status=status,
        opened_at=opened_at,
        decision="none",
        deliver_at=None,
    )


def write_incidents(
    store: IncidentStore,
    count: int,
    start: datetime,
    pipelines: Sequence[str],
    statuses: Sequence[Status] = ("triggered",),
    tie: int = 1,
) -> list[Incident]:
    """`count` incidents, the nth opened `n // tie` seconds after `start` (so `tie` of them
    share each opening time), its pipeline and status taken in turn from the lists."""
    template = an_incident(pipelines[0], start)
    made = [
        template.model_copy(
            update={
                "id": new_id(),
                "dedup_key": f"bulk-{n}",
                "pipeline": pipelines[n % len(pipelines)],
                "status": statuses[n % len(statuses)],
                "opened_at": start + timedelta(seconds=n // tie),
            }
        )
        for n in range(count)
    ]
    put_new(store, made)
    return made


def put_all(store: IncidentStore, incidents: Sequence[Incident]) -> None:
    """Each through IncidentStore.put, as a fold writes it (about 9 commands each)."""
    for first in range(0, len(incidents), CHUNK):
        with store.redis.pipeline(transaction=False) as pipe:
            for incident in incidents[first : first + CHUNK]:
                store.put(pipe, incident)
            pipe.execute()


def put_new(store: IncidentStore, incidents: Sequence[Incident]) -> None:
    """What `put_all` writes for incidents not stored yet, a few commands a chunk (one
    MSET, one HSET and one ZADD a key) instead of nine an incident: 50,000 in about a
    second. tests/test_listing.py checks that both write the same."""
    for first in range(0, len(incidents), CHUNK):
        chunk = incidents[first : first + CHUNK]
        hashes: dict[str, dict[str, str]] = defaultdict(dict)
        sets: dict[str, dict[str, float]] = defaultdict(dict)
        for incident in chunk:
            if incident.is_open:
                for index in (
                    keys.open_index(incident.pipeline),
                    keys.open_by_type(incident.pipeline, incident.type),
                ):
                    hashes[index][incident.dedup_key] = incident.id
            opened = incident.opened_at.timestamp()
            sets[keys.status(incident.status)][incident.id] = opened
            sets[keys.pipeline_status(incident.pipeline, incident.status)][incident.id] = opened
        with store.redis.pipeline(transaction=False) as pipe:
            pipe.mset({keys.incident(i.id): i.model_dump_json() for i in chunk})
            for name, fields in hashes.items():
                pipe.hset(name, mapping=fields)  # type: ignore[arg-type]
            for name, scored in sets.items():
                pipe.zadd(name, scored)
            for pipeline, n in Counter(i.pipeline for i in chunk).items():
                pipe.incrby(keys.pipeline_version(pipeline), n)  # as put does, one an incident
            pipe.execute()
