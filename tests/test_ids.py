"""Unique ids without a system call (router.state.ids): their forms, and a forked child
that never repeats its parent's."""

from __future__ import annotations

import multiprocessing
import re
import uuid

from router.state.ids import unique_hex, unique_hexes, unique_uuid


def _next_ids(out: multiprocessing.SimpleQueue[list[str]]) -> None:
    out.put(unique_hexes(100))


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    """Without the reseed after fork, the child's generator would be its parent's copy
    and give the parent's next ids."""
    unique_hex()  # the parent's generator is in use before the fork
    context = multiprocessing.get_context("fork")
    out: multiprocessing.SimpleQueue[list[str]] = context.SimpleQueue()
    child = context.Process(target=_next_ids, args=(out,))
    child.start()
    theirs = out.get()
    child.join(10)
    ours = unique_hexes(100)
    assert not set(theirs) & set(ours)


def test_ids_have_the_forms_of_those_they_replace() -> None:
    drawn = [*unique_hexes(1000), unique_hex()]
    assert all(re.fullmatch(r"[0-9a-f]{32}", each) for each in drawn)  # uuid4().hex's
    assert len(set(drawn)) == len(drawn)
    task_id = unique_uuid()
    assert str(uuid.UUID(task_id)) == task_id and uuid.UUID(task_id).version == 4
