"""What a fired timer causes, as data: what each kind's decision returns
(router.delivery.firing.step, .push, .chat, .action, .ack_timeout, .resolved, .notice) and the
one interface their handlers share. The shell (router.delivery.firing.run) performs the sends and
writes what happens to the timer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from router.core.digest import PageBudget
from router.core.incidents import Incident
from router.core.message import OutgoingMessage
from router.core.rules import Rules
from router.core.rules.pipelines import Pipeline, WebhookAction
from router.core.timeline import Line
from router.delivery.channels.base import Tone
from router.queue.tasks import FireResult
from router.state.digests import Held
from router.state.metrics import Observed
from router.state.sendonce import Record
from router.state.stream import ChatLine
from router.state.timers import Timer


@dataclass(frozen=True)
class Fired:
    result: FireResult
    said: str

    def __str__(self) -> str:
        return f"{self.result}: {self.said}" if self.said else self.result


@dataclass(frozen=True)
class ReadAhead:
    """What a fire task read once for all its timers (router.delivery.firing.Firing.read_ahead):
    the rules of the moment and the incidents of its step and push timers, in one round
    trip instead of two per timer."""

    rules: Rules
    incidents: Mapping[str, Incident | None]
    """By id; an incident not here is read when its timer fires."""
    budget: PageBudget | None = None
    """Each engineer's pages in the digest window (None: no digests, or no step timers)."""


class Handler(Protocol):
    """One kind of timer: reads what its decision needs, decides, has the shell act."""

    def fire(self, member: str, timer: Timer, now: datetime, ahead: ReadAhead) -> Fired: ...


# -- what happens to the timer ------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """Done: out of the lease set."""


@dataclass(frozen=True)
class Leave:
    """The lease stays: an early timer is claimed again when due; a busy one is left to
    the worker holding its send."""


@dataclass(frozen=True)
class Reschedule:
    """Back to the timer set, due at `due_ts`."""

    due_ts: float


@dataclass(frozen=True)
class BackOff:
    """Due again after a doubling back-off (router.state.timers.retry_later), `at_least_s` at
    least (what the service asked for)."""

    at_least_s: float


TimerChange = Release | Leave | Reschedule | BackOff


@dataclass(frozen=True)
class Done:
    """A decision that sends nothing."""

    result: FireResult
    said: str
    change: Release | Leave | Reschedule


# -- what to send, composed by the shell when it is sent ------------------------------------


@dataclass(frozen=True)
class IncidentEmail:
    """An incident's email to an engineer (router.delivery.mail.compose.Composer
    .incident_message)."""

    kind: str
    incident: Incident
    recipient: str
    index: int | None
    """The step's place in the plan; None for the resolved notice."""
    notes: tuple[Line, ...] | None = None
    """The incident's notes, from its timeline (the resolved notice shows them)."""


@dataclass(frozen=True)
class ActionEmail:
    """A runbook action: tell a contact about the incident."""

    incident: Incident
    contact: str
    on_it: tuple[str, ...]


@dataclass(frozen=True)
class StoredEmail:
    """A notice from the outbox, composed when it was stored."""

    message: OutgoingMessage


@dataclass(frozen=True)
class PagePush:
    """A page's push to one of the recipient's contact methods."""

    url: str
    incident: Incident
    recipient: str
    index: int
    tone: Tone


@dataclass(frozen=True)
class ChatPost:
    """A line for the team chat."""

    url: str
    line: ChatLine


@dataclass(frozen=True)
class SlackLine:
    """A line for the team stream in Slack: line `number` (from 0) of its stream; the
    first heads the thread."""

    channel: str
    line: ChatLine
    number: int


@dataclass(frozen=True)
class WebhookCall:
    """A runbook's webhook; `by` pressed its button (or "the router")."""

    action: WebhookAction
    incident: Incident
    pipeline: Pipeline
    by: str


@dataclass(frozen=True)
class Refused:
    """Fails for good without an attempt (the team chat was removed from the rules)."""

    detail: str


Outgoing = (
    IncidentEmail
    | ActionEmail
    | StoredEmail
    | PagePush
    | ChatPost
    | SlackLine
    | WebhookCall
    | Refused
)


@dataclass(frozen=True)
class Send:
    """One send: what, under which idempotency key, and what its outcome records."""

    what: Outgoing
    key: str
    record: Record
    counts: bool = False
    """An escalation step's email: one of them sent writes the plan's `counted`."""


@dataclass(frozen=True)
class Later:
    """A timer to add, due at `due_ts`, before the fired one is released."""

    timer: Timer
    due_ts: float


@dataclass(frozen=True)
class ChatOnce:
    """A chat line for a change the timer makes, written once under `tag`."""

    line: ChatLine
    tag: str


@dataclass(frozen=True)
class Digested:
    """A page held for `person`'s digest (router.core.digest), written before the sends."""

    person: str
    held: Held


@dataclass(frozen=True)
class Plan:
    """A decision that sends: one attempt each, in order, then the timer is settled
    (router.delivery.firing.settle)."""

    said: str
    sends: tuple[Send, ...] = ()
    then: Release | Reschedule = Release()
    """What happens to the timer once every send has ended (none to retry or busy)."""
    later: Later | None = None
    counted: tuple[Observed, ...] = ()
    """Metrics of the step, written with the timer's change if a counting send was sent."""
    discard: str | None = None
    """A stored notice deleted with the release."""
    chat: ChatOnce | None = None
    digest: tuple[Digested, ...] = ()
