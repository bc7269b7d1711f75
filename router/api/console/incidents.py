"""/ (what needs attention) and /incidents/{id} with its Acknowledge and Resolve.

The handlers check the session on the event loop (the asyncio client), then do the rest
off it (run_in_threadpool): the store is read and written with the synchronous client."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from router.api.console.maintenance import active_windows
from router.api.console.pages import (
    engineer_form,
    form_session,
    is_engineer,
    page_message,
    page_session,
    render,
    runtime_of,
)
from router.api.incidents import (
    NoteIn,
    NoteInvalid,
    add_note,
    find_incident,
    snooze,
)
from router.core.durations import parse_duration_s
from router.core.incidents import (
    Incident,
    NextPage,
    Status,
    attention_order,
    next_page,
    pages_person,
    paging_now,
)
from router.core.links import LinkAction
from router.core.notes import MAX_NOTE_CHARS
from router.core.rotation import shifts_between
from router.core.rules.pipelines import WebhookAction
from router.service import acting
from router.service.acting import already_done
from router.service.runtime import Runtime
from router.state.sessions import Session
from router.state.store import IncidentStore

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SORTED_UP_TO = 500
"""Open incidents of one status sorted by severity when there are at most this many:
sorting reads them all (an on-call team rarely has more than a few dozen open); beyond
it the listing reads only its page, newest first (tests/test_listing.py, 20,000 open)."""
STATUSES = [
    ("open", "Triggered, then acknowledged"),
    ("triggered", "Triggered"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
]
SHOWN: dict[str, list[Status]] = {
    "open": ["triggered", "acknowledged"],
    "triggered": ["triggered"],
    "acknowledged": ["acknowledged"],
    "resolved": ["resolved"],
}


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days"


def _names(names: list[str]) -> str:
    """Names as a sentence lists them: "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _when(moment: datetime, now: datetime, zone: ZoneInfo) -> str:
    """Team time: the hour alone today, with the day otherwise."""
    local = moment.astimezone(zone)
    same_day = local.date() == now.astimezone(zone).date()
    return local.strftime("%H:%M %Z" if same_day else "%a %b %d %H:%M %Z")


def _paged_next(coming: NextPage | None, now: datetime, zone: ZoneInfo) -> str | None:
    """ "Biswa Kalyan Rath at 13:22 PST": who is paged next and when, in words."""
    if coming is None or not coming.names:
        return None
    return f"{_names(coming.names)} at {_when(coming.at, now, zone)}"


def _nobody_next(incident: Incident) -> str:
    """Why nobody is paged next, in words."""
    if incident.status == "acknowledged":
        return "Nobody is paged while it is acknowledged."
    if incident.status == "resolved":
        return "Nobody is paged: it is resolved."
    if incident.deliver_at is None:
        return f"Nobody is paged: a {incident.severity} {incident.type} is recorded, not paged."
    if incident.decision == "suppressed":
        return "Nobody is paged during the maintenance window: it is decided again at its end."
    if incident.held_at is not None:
        return "Nobody else is paged during the maintenance window: it resumes at its end."
    return "Nobody else is paged: the escalation has reached its last step."


def _row(incident: Incident, runtime: Runtime, now: datetime, person: str) -> dict[str, Any]:
    rules = runtime.current_rules()
    paging, _ = paging_now(incident, now)
    zone = rules.team.zone
    return {
        "incident": incident,
        "pipeline": rules.pipelines[incident.pipeline].name
        if incident.pipeline in rules.pipelines
        else incident.pipeline,
        "age": _age(incident.opened_at, now),
        "paging": _names(paging) if paging else "",
        "paged_next": _paged_next(next_page(incident, rules, now), now, zone),
        "paging_you": pages_person(incident, person, rules, now),
    }


@router.get("/")
async def index(
    request: Request, status: str = "open", pipeline: str = "", page: int = 1
) -> Response:
    session = await page_session(request)
    return await run_in_threadpool(_index, request, session, status, pipeline, page)


def _index(request: Request, session: Session, status: str, pipeline: str, page: int) -> Response:
    """Off the event loop (run_in_threadpool): the store and the roster are read with the
    synchronous client."""
    runtime = runtime_of(request)
    now = runtime.clock.now()
    store = runtime.engine.store
    status = status if status in {value for value, _ in STATUSES} else "open"
    chosen = SHOWN[status]
    shown, total = _page_of(store, chosen, pipeline, max(1, page))
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, page), pages)
    rules = runtime.current_rules()
    now_shift, next_shift = shifts_between(now, now + timedelta(days=30), rules)[:2]
    return render(
        request,
        "index.html",
        session,
        title="Incidents",
        rows=[_row(incident, runtime, now, session.person) for incident in shown],
        now_shift=now_shift,
        next_shift=next_shift,
        statuses=STATUSES,
        status=status,
        status_label=dict(STATUSES)[status].lower(),
        pipelines=[(p.id, p.name) for p in runtime.rules.pipelines.values()],
        pipeline=pipeline,
        page=page,
        pages=pages,
        total=total,
        maintenance=active_windows(runtime),
    )


def _page_of(
    store: IncidentStore, statuses: list[Status], pipeline: str, page: int
) -> tuple[list[Incident], int]:
    """One page of the statuses in order (triggered before acknowledged), and how many
    there are in all. Within a status, what needs attention first
    (router.core.incidents.attention_order: P1 first, then the oldest) while it has at
    most SORTED_UP_TO incidents: they are all read to be sorted. Beyond that, and for
    resolved ones (history), newest first, and only the page is read. With a pipeline
    filter, only that pipeline's status sets (router.state.keys.pipeline_status)."""
    start = (page - 1) * PAGE_SIZE
    within = pipeline or None
    counts = [store.count(status, within) for status in statuses]
    shown: list[Incident] = []
    offset = start
    for status, count in zip(statuses, counts, strict=True):
        if offset < count and len(shown) < PAGE_SIZE:
            wanted = PAGE_SIZE - len(shown)
            if status != "resolved" and count <= SORTED_UP_TO:
                ordered = sorted(store.every(status, within), key=attention_order)
                shown += ordered[offset : offset + wanted]
            else:
                shown += store.page(status, offset, wanted, within)
        offset = max(0, offset - count)
    return shown, sum(counts)


def _timeline_text(item: dict[str, Any]) -> str:
    kind = item.get("kind")
    if kind == "event":
        source = f" from {item['source']}" if item.get("source") else ""
        return f"{item.get('type')} ({item.get('action')}){source}: {item.get('summary') or ''}"
    if kind == "decision":
        return f"{item.get('decision')}: {item.get('reason')}"
    if kind == "note":
        estimate = f" (estimate: {item['estimate']})" if item.get("estimate") else ""
        return f"{item.get('by')}: {item.get('text')}{estimate}"
    # the escalation's round and step numbers are the router's, not the reader's: left out
    if kind in ("message", "message failed"):
        return f"{item.get('message')} to {item.get('to')} {item.get('detail') or ''}"
    if kind == "maintenance":
        return str(item.get("text") or "")
    if kind in ("push", "push failed"):
        return f"to {item.get('to')} at {item.get('channel')} {item.get('detail') or ''}"
    skip = {"at", "kind", "round", "step"}
    return ", ".join(f"{key} {value}" for key, value in item.items() if key not in skip)


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: str) -> Response:
    session = await page_session(request)
    return await run_in_threadpool(_incident_page, request, session, incident_id)


def _incident_page(request: Request, session: Session, incident_id: str) -> Response:
    runtime = runtime_of(request)
    incident = runtime.engine.store.get(incident_id)
    if incident is None:
        return page_message(request, "Not found", f"There is no incident {incident_id}.", 404)
    now = runtime.clock.now()
    zone = runtime.rules.team.zone
    timeline = [
        {
            "when": datetime.fromisoformat(str(item["at"]).replace("Z", "+00:00"))
            .astimezone(zone)
            .strftime("%a %b %d %H:%M:%S"),
            "kind": item["kind"],
            "text": _timeline_text(item),
        }
        for item in runtime.engine.store.timeline(incident_id)
    ]
    pipeline = runtime.rules.pipelines.get(incident.pipeline)
    row = _row(incident, runtime, now, session.person)
    return render(
        request,
        "incident.html",
        session,
        title=incident.summary or incident.type,
        incident=incident,
        pipeline=row["pipeline"],
        age=row["age"],
        paging=row["paging"],
        paged_next=row["paged_next"],
        nobody_next=_nobody_next(incident),
        paging_you=row["paging_you"],
        runbook=pipeline.runbook.get(incident.type) if pipeline else None,
        buttons=[
            (index, action.label)
            for index, action in enumerate(
                pipeline.actions.get(incident.type, []) if pipeline else []
            )
            if isinstance(action, WebhookAction) and action.confirm
        ],
        timeline=timeline,
        can_act=is_engineer(request, session),
    )


async def _act(request: Request, incident_id: str, action: LinkAction, csrf: str) -> Response:
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)

    def act() -> None:
        incident = find_incident(runtime, incident_id)
        if not already_done(incident, action):
            acting.act(runtime, incident, action, session.person)

    await run_in_threadpool(act)
    done = "acknowledged" if action == "acknowledge" else "resolved"
    return RedirectResponse(f"/incidents/{incident_id}?done={quote(f'Incident {done}.')}", 303)


@router.post("/incidents/{incident_id}/notes")
async def note(
    request: Request,
    incident_id: str,
    csrf: str = Form(""),
    text: str = Form(""),
    estimate: str = Form(""),
) -> Response:
    """Everyone signed in may add a note, analysts too."""
    session = await form_session(request, csrf)
    runtime = runtime_of(request)
    try:
        body = NoteIn(text=text[:MAX_NOTE_CHARS], estimate=estimate.strip() or None)
        await run_in_threadpool(add_note, runtime, incident_id, body, session.person)
    except (NoteInvalid, ValidationError) as error:
        said = str(error).splitlines()[0]
        back = {"link": f"/incidents/{incident_id}", "link_text": "Back to the incident"}
        return page_message(request, "Note not added", said, 400, **back)
    return RedirectResponse(f"/incidents/{incident_id}?done={quote('Note added.')}", 303)


@router.post("/incidents/{incident_id}/snooze")
async def snooze_form(
    request: Request, incident_id: str, csrf: str = Form(""), duration: str = Form("", alias="for")
) -> Response:
    session = await engineer_form(request, csrf)
    try:
        for_s = parse_duration_s(duration)
    except ValueError as error:
        return page_message(request, "Not snoozed", f"for: {error}", 400)
    await run_in_threadpool(snooze, runtime_of(request), incident_id, for_s, session.person)
    return RedirectResponse(
        f"/incidents/{incident_id}?done={quote(f'Snoozed for {duration}.')}", 303
    )


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(request: Request, incident_id: str, csrf: str = Form("")) -> Response:
    return await _act(request, incident_id, "acknowledge", csrf)


@router.post("/incidents/{incident_id}/resolve")
async def resolve(request: Request, incident_id: str, csrf: str = Form("")) -> Response:
    return await _act(request, incident_id, "resolve", csrf)
