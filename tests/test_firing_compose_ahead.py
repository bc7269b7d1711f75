"""A fire task composes its emails in `Firing.prepare`, one after another, before its
first send: each as its send would have composed it, only those it holds a claim for,
and one that cannot be composed is left to its send. Real Redis, the shipped rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from router.delivery.firing.plan import IncidentEmail
from router.service.runtime import Runtime, build_runtime
from router.state import keys
from router.state.writer import put_incident
from tests.stack import settings_for
from tests.support import RULES_DIR
from tests.test_firing_step import AT, B, incident

DB = 13


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    built = build_runtime(settings_for(RULES_DIR, tmp_path / "outbox", db=DB))
    built.redis.flushdb()
    try:
        yield built
    finally:
        built.redis.flushdb()


def test_a_fire_task_composes_the_emails_it_holds_a_claim_for(runtime: Runtime) -> None:
    ours, theirs = incident(id="ours"), incident(id="theirs")
    for each in (ours, theirs):
        put_incident(runtime.redis, each, None)
    # Another attempt holds the marker of "theirs": this task will not send it.
    runtime.redis.set(keys.sent(f"theirs:0:0:{B}"), "sending:another", px=60_000)
    firing, members = runtime.engine.firing, ["step:ours:0:0", "step:theirs:0:0"]

    prepared = firing.prepare(members, AT)

    key = f"ours:0:0:{B}"
    assert set(prepared.messages) == {key}
    assert prepared.messages[key] == runtime.composer.incident_message("page", ours, B, 0, AT, key)
    fired = firing.fire(members[0], AT, prepared)
    assert fired.result == "sent"
    assert prepared.messages == {}  # taken by its send
    firing.let_go(prepared)


def test_an_email_that_cannot_be_composed_is_left_to_its_send(runtime: Runtime) -> None:
    good = IncidentEmail("page", incident(), B, 0)
    unknown = IncidentEmail("page", incident(), "Nobody On The Team", 0)
    outbound = runtime.engine.firing.outbound

    composed = outbound.compose_emails([("bad", unknown), ("good", good)], AT)

    assert list(composed) == ["good"]
    with pytest.raises(KeyError, match="Nobody On The Team"):  # as its send will say
        runtime.composer.incident_message("page", incident(), "Nobody On The Team", 0, AT, "k")
