"""The Redis key layout: every key the router writes is named here (prefix `ar:`).

incident:{id}           the incident, JSON
open:{pipeline}         hash dedup key -> id of the pipeline's open incidents
open:{pipeline}:{type}  the same, by type, for data_ready to find what it resolves
status:{status}         sorted set of ids by opening time, for listings
status:{status}:pipeline:{pipeline}  the same, one pipeline's (the console's filter)
pipeline-index          set once every incident stored before those sets is in them
timeline:{id}           list of JSON entries: events, decisions, messages, ack, resolve
seen-on:{pipeline}:{day}  hash of the ids of events folded, by the day they arrived:
                        written with the fold, so a retried batch folds no event twice
seen:{event_id}         the same, one key per event: before 0.3, and dead letters
version:{pipeline}      incremented by every write to the pipeline's incidents (WATCHed)
folding:{pipeline}      the fold lock: workers take turns on a pipeline's big batches
ready:{pipeline}:{day}[:{type}]  a data_ready (or the type a deadline expects) arrived
timers, leased          due work and work in progress (router.state.timers)
attempts                hash timer member -> failed send attempts, for the back-off
message:{stem}          a notice waiting in the outbox (router.state.outbox)
held:{incident}         stems of the report notices an open incident holds back
held-by:{stem}          ids of the incidents holding a report notice back
action-requested:{incident}:{index}  who pressed a runbook action's button (set once)
sent:{key}              a message's delivery marker (router.delivery.mail.delivery)
handoff:{start}         a shift change already announced
fold-failures           hash event id -> failed folds; at the limit, a dead letter
dead-letters            list of events whose fold kept failing, with the error
workers                 sorted set of worker heartbeats
ratelimit:{token}:{window}  requests counted for the per-token rate limit
roster:absences, roster:overrides  hashes id -> JSON of run-time changes (router.core.roster)
roster:version          a new random value with every roster change: processes reload on it
audit                   list of JSON entries, newest first: who changed the roster or acted
                        on an incident, when (router.state.audit)
login:{nonce}           a sign-in link not yet used (deleted when used: single use)
session:{id}            a signed-in person's session, with its CSRF token
feed-keys               hash person -> calendar feed key (replaced: the old feed URL is revoked)
metrics                 hash metric|labels -> count, for /metrics (router.state.metrics)
slack-thread:{stream}   `{channel id} {ts}` of the Slack message heading a stream's thread
slack-press:{digest}    a Slack button press that acted: Slack's retries act once
                        (both router.state.slack)
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

TIMERS = "ar:timers"
LEASED = "ar:leased"
ATTEMPTS = "ar:attempts"
HEARTBEATS = "ar:workers"
FOLD_FAILURES = "ar:fold-failures"
DEAD_LETTERS = "ar:dead-letters"
UNREADABLE = "ar:unreadable"  # list of what of a task could not be read, with why
ROSTER_ABSENCES = "ar:roster:absences"
ROSTER_OVERRIDES = "ar:roster:overrides"
ROSTER_MAINTENANCE = "ar:roster:maintenance"
"""Run-time maintenance windows by id (router.core.roster.RuntimeWindow)."""
ROSTER_VERSION = "ar:roster:version"
AUDIT = "ar:audit"
FEED_KEYS = "ar:feed-keys"
METRICS = "ar:metrics"
REPLICA_PROBE = "ar:replica-probe"
"""Written right before a WAIT that confirms writes made on other connections
(router.state.replication)."""
CLOCK_OFFSETS = "ar:clock-offsets"
"""Hash: each router process ("api host pid 12") -> "offset_s measured_at_unix", its
clock against Redis's (router.state.watch)."""
FAILOVERS = "ar:failovers"
"""Set: the replication ID of each master a router process saw take over
(router.state.watch)."""
PIPELINE_INDEX = "ar:pipeline-index"
ACCEPTED = "ar:accepted"
"""Hash: task id -> "queue\ndelivery tag\nmessage" of each batch the API accepted and no
worker has folded yet, kept with ROUTER_REDIS_MIN_REPLICAS (router.state.ledger)."""
ACCEPTED_AT = "ar:accepted:at"
"""Sorted set: the same task ids by when they were last known to be in Redis."""
UNACKED = "unacked"
"""kombu's Redis transport's hash: delivery tag -> a message a worker holds."""


def incident(incident_id: str) -> str:
    return f"ar:incident:{incident_id}"


def open_index(pipeline: str) -> str:
    return f"ar:open:{pipeline}"


def open_by_type(pipeline: str, event_type: str) -> str:
    return f"ar:open:{pipeline}:{event_type}"


def status(name: str) -> str:
    return f"ar:status:{name}"


def pipeline_status(pipeline: str, name: str) -> str:
    """A pipeline's incidents of one status, by opening time: written with `status`."""
    return f"ar:status:{name}:pipeline:{pipeline}"


def timeline(incident_id: str) -> str:
    return f"ar:timeline:{incident_id}"


def seen(event_id: str) -> str:
    """An event folded before 0.3, or set aside as a dead letter: one key per event."""
    return f"ar:seen:{event_id}"


def seen_on(pipeline: str, received_at: datetime) -> str:
    """A hash of the ids of the pipeline's events received that day (UTC) and folded:
    one HSET per batch, not one SET per event."""
    return f"ar:seen-on:{pipeline}:{_utc_day(received_at)}"


SEEN_ON_MATCH = "ar:seen-on:*"
"""Every pipeline's and day's `seen_on` hash (SCAN MATCH)."""


@functools.lru_cache(maxsize=256)  # a batch's events arrived at one instant
def _utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def fold_lock(pipeline: str) -> str:
    """Held by the worker folding a big batch of the pipeline's events (router.state.store)."""
    return f"ar:folding:{pipeline}"


def pipeline_version(pipeline: str) -> str:
    """Incremented by every write that changes the pipeline's incidents or folds one of
    its events: folds WATCH it (router.state.store), so two folds of one pipeline never both
    commit what they planned from the same reads."""
    return f"ar:version:{pipeline}"


def ready(pipeline: str, day: object, event_type: str = "data_ready") -> str:
    """A `data_ready` keeps the key's older form; other "ready" types name themselves."""
    suffix = "" if event_type == "data_ready" else f":{event_type}"
    return f"ar:ready:{pipeline}:{day}{suffix}"


def message(stem: str) -> str:
    return f"ar:message:{stem}"


def sent(idempotency_key: str) -> str:
    return f"ar:sent:{idempotency_key}"


def fenced(idempotency_key: str) -> str:
    """Set once a send passed its fence and until its outcome is written: a later
    attempt finding it sends marked as a possible repeat (router.state.sendonce)."""
    return f"ar:fenced:{idempotency_key}"


def handoff(start_iso: str) -> str:
    return f"ar:handoff:{start_iso}"


def ratelimit(token_id: str, window: int) -> str:
    return f"ar:ratelimit:{token_id}:{window}"


def events_sent(sender: str, window: int) -> str:
    """Events a token or an integration sent in a window (router.api.flood)."""
    return f"ar:events-sent:{sender}:{window}"


def held(incident_id: str) -> str:
    return f"ar:held:{incident_id}"


def held_by(stem: str) -> str:
    return f"ar:held-by:{stem}"


def action_requested(incident_id: str, index: int) -> str:
    return f"ar:action-requested:{incident_id}:{index}"


def login(nonce: str) -> str:
    return f"ar:login:{nonce}"


def session(session_id: str) -> str:
    return f"ar:session:{session_id}"


def send_attempts(idempotency_key: str) -> str:
    """Transient failures of one channel send so far (router.delivery.channels.delivery)."""
    return f"ar:send-attempts:{idempotency_key}"


def chat_lines(incident_id: str) -> str:
    """The incident's lines for the team chat, in order (router.state.stream)."""
    return f"ar:chat:{incident_id}"


def chat_sent(incident_id: str) -> str:
    """How many of the incident's chat lines are out."""
    return f"ar:chat-sent:{incident_id}"


def chat_once(incident_id: str, change: str) -> str:
    """Set with a chat line written outside a transaction of the change itself."""
    return f"ar:chat-once:{incident_id}:{change}"


def muted(window_id: str, since_ts: float) -> str:
    """The incidents a maintenance window's occurrence from `since_ts` kept from paging
    (router.core.fold.MutedMarker): its summary at the end lists them."""
    return f"ar:muted:{window_id}:{int(since_ts)}"


def window_summarized(window_id: str, since_ts: float) -> str:
    """Set with the summary emails of a maintenance window's occurrence (router.service
    .maintenance): they are written once."""
    return f"ar:window-summarized:{window_id}:{int(since_ts)}"


def paged(person: str) -> str:
    """The person's pages of the digest window, by send key (router.state.digests)."""
    return f"ar:paged:{person}"


def digest(person: str) -> str:
    """The pages held for the person's next digest (router.state.digests)."""
    return f"ar:digest:{person}"


def push_button_used(token_digest: str) -> str:
    """Set when a push's Acknowledge button acts (router.api.push_links): once each."""
    return f"ar:push-used:{token_digest}"


def slack_thread(stream_id: str) -> str:
    """`{channel id} {ts}` of the Slack message that heads an incident's thread (or a
    window's): its later lines reply there, and it is updated to the latest state
    (router.delivery.slack.channel)."""
    return f"ar:slack-thread:{stream_id}"


def slack_press(press_digest: str) -> str:
    """Set when a Slack button press acts (router.api.slack): Slack's retries act once."""
    return f"ar:slack-press:{press_digest}"
