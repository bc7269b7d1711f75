"""Pages per person and the digests they fall into (router.core.digest), in Redis.

`keys.paged(person)` holds the person's pages of the last window (member: the page's
send key, score: when decided), so a redelivered step counts once. `keys.digest(person)`
holds the pages held for their digest (member `incident:round:step`, score: when held),
and a `digest` timer per person (`digest:{person}:0:0`) sends them one window after the
first one held. This module owns those members.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis

from router.core.digest import PageBudget
from router.state import keys
from router.state.pipe import Pipe
from router.state.timers import Timer, schedule_unless_set_on

_SEP = ":"


def digest_timer(person: str) -> Timer:
    return Timer(kind="digest", incident=person, round=0, step=0)


@dataclass(frozen=True)
class Held:
    """A page held for a person's digest."""

    incident: str
    round: int
    step: int
    at_ts: float

    def member(self) -> str:
        return f"{self.incident}{_SEP}{self.round}{_SEP}{self.step}"

    @classmethod
    def parse(cls, member: str, at_ts: float) -> Held:
        incident, round_no, step = member.rsplit(_SEP, 2)
        return cls(incident, int(round_no), int(step), at_ts)


@dataclass(frozen=True)
class Digests:
    """The budget's settings: `after_pages` pages in `window_s` (0 pages: no digests)."""

    client: redis.Redis
    after_pages: int
    window_s: float

    @property
    def on(self) -> bool:
        return self.after_pages > 0

    def budget(self, people: Iterable[str], now: datetime) -> PageBudget | None:
        """Each person's pages in the window up to `now`: one round trip."""
        if not self.on:
            return None
        names = list(people)
        since = now.timestamp() - self.window_s
        with self.client.pipeline(transaction=False) as reads:
            for name in names:
                reads.zcount(keys.paged(name), since, "+inf")
            counts = reads.execute()
        return PageBudget(self.after_pages, {n: int(c) for n, c in zip(names, counts, strict=True)})

    def note_pages(self, pages: Sequence[tuple[str, str]], now: datetime) -> None:
        """The pages a fire task decided, (person, send key): one round trip."""
        if not pages:
            return
        ts, since = now.timestamp(), now.timestamp() - self.window_s
        by_person: dict[str, dict[str, float]] = {}
        for person, key in pages:
            by_person.setdefault(person, {})[key] = ts
        with self.client.pipeline(transaction=False) as writes:
            for person, send_keys in by_person.items():
                writes.zadd(keys.paged(person), send_keys)
                writes.zremrangebyscore(keys.paged(person), "-inf", since)
                writes.expire(keys.paged(person), int(self.window_s) + 60)
            writes.execute()

    def hold_on(self, pipe: Pipe, person: str, held: Held) -> None:
        """The page into the person's digest, and its timer one window on unless one is
        set (ZADD NX: a digest goes at most once a window)."""
        pipe.zadd(keys.digest(person), {held.member(): held.at_ts})
        schedule_unless_set_on(pipe, digest_timer(person), held.at_ts + self.window_s)

    def pending(self, person: str) -> list[Held]:
        found: list[tuple[bytes, float]] = self.client.zrange(  # type: ignore[assignment]
            keys.digest(person), 0, -1, withscores=True
        )
        return [Held.parse(member.decode(), float(ts)) for member, ts in found]

    @staticmethod
    def let_go_on(pipe: Pipe, person: str, held: Sequence[Held]) -> None:
        """The pages a digest carried, out of the person's digest (with its outcome)."""
        if held:
            pipe.zrem(keys.digest(person), *(h.member() for h in held))
