"""A person's digest (router.core.digest): the pages held for them since their last one,
in one email listing each incident with its links, sent once; the pages it carried
leave the digest with its outcome. Pages held while it was on its way set the next
digest's timer, one window on (router.state.digests)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from router.core.incidents import Incident
from router.core.message import OutgoingMessage
from router.delivery.firing.plan import Done, Fired, Plan, ReadAhead, Release, Send, StoredEmail
from router.delivery.firing.run import Runner
from router.delivery.mail.compose import Composer
from router.state.digests import Digests, Held
from router.state.sendonce import Entry, Record, Writes, Written
from router.state.store import IncidentStore
from router.state.timers import Timer


def decide(
    person: str, held: Sequence[Held], incidents: Sequence[Incident], message: OutgoingMessage
) -> Plan:
    """One email for the held pages; its outcome records it on each incident and lets
    the pages go from the digest."""
    let_go = Writes()
    Digests.let_go_on(let_go, person, held)
    said = (("to", person), ("message", "digest"))
    record = Record(
        sent=Written(tuple(Entry(i.id, "message", said) for i in incidents)),
        failed=Written(tuple(Entry(i.id, "message failed", said) for i in incidents)),
    ).also(tuple(let_go.commands), tuple(let_go.commands))
    send = Send(StoredEmail(message), message.idempotency_key, record)
    return Plan(said=f"digest of {len(incidents)} incident(s) to {person}", sends=(send,))


class DigestHandler:
    def __init__(
        self, store: IncidentStore, digests: Digests, composer: Composer, runner: Runner
    ) -> None:
        self.store, self.digests, self.composer, self.runner = store, digests, composer, runner

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired:
        person = timer.incident  # a digest timer names its person
        held = self.digests.pending(person)
        ids = list(dict.fromkeys(h.incident for h in held))
        found = self.store.get_many(ids)
        incidents = [i for i in (found[id_] for id_ in ids) if i is not None]
        if not incidents:
            return self.runner.done(member, Done("nothing", "no pages held", Release()))
        key = f"digest:{person}:{int(held[0].at_ts)}"
        message = self.composer.digest(person, incidents, self.digests.window_s, key, now)
        return self.runner.run(member, decide(person, held, incidents, message), now)
