"""The operator's console: server-rendered pages (Jinja2), no build step, no script.

Every page needs a session (router.api.signin); without one the browser is sent to
/login. Every form carries the session's CSRF token, checked before anything changes.
Acknowledge, resolve, absences and overrides go through the same code as the API, so
they are recorded as the signed-in person and audited alike.
"""

from __future__ import annotations

import hmac
import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from router.api.auth import session_of
from router.api.calendarfeed import feed_url
from router.api.incidents import already_done, find_incident, perform
from router.api.roster import AbsenceIn, OverrideIn, add_absence, add_override
from router.calendar import holiday_name
from router.incidents import Incident, Status, paging_now
from router.links import LinkAction
from router.roster import RosterInvalid
from router.rotation import shifts_between
from router.runtime import Runtime
from router.sessions import Session
from router.store import IncidentStore
from router.times import iso_z, local_day_span

router = APIRouter(include_in_schema=False)


def page_templates(request: Request) -> jinja2.Environment:
    """templates/console beside templates/email (ROUTER_TEMPLATES_DIR), as the image has it."""
    found: jinja2.Environment = request.app.state.console_templates
    return found


def console_templates(email_templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(email_templates_dir.parent / "console"),
        autoescape=True,
    )


PAGE_SIZE = 50
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
WEEKS_SHOWN = 8


class SignInFirst(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _session(request: Request) -> Session:
    session = await session_of(request)
    if session is None:
        raise SignInFirst(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return session


async def _form_session(request: Request, csrf: str) -> Session:
    """The session, and the form's CSRF token matches it; else SignInFirst or 403."""
    session = await _session(request)
    if not hmac.compare_digest(csrf.encode(), session.csrf.encode()):
        raise CsrfRefused()
    return session


class CsrfRefused(Exception):
    pass


def sign_in_redirect(path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(path, safe='')}", status_code=303)


def csrf_refused(request: Request) -> HTMLResponse:
    return page_message(
        request,
        "Refused",
        "This form is out of date or was not sent by the console "
        "(no valid CSRF token). Reload the page and try again.",
        403,
    )


def page_message(
    request: Request, title: str, text: str, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    context = {"title": title, "text": text, "person": None, "link": None, **extra}
    html = page_templates(request).get_template("message.html").render(context)
    return HTMLResponse(html, status_code)


def render(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
    runtime = _runtime(request)
    zone = runtime.rules.team.zone

    def local(moment: datetime | None) -> str:
        return "-" if moment is None else moment.astimezone(zone).strftime("%a %b %d %H:%M %Z")

    said = {
        "person": session.person,
        "csrf": session.csrf,
        "local": local,
        "iso": iso_z,
        "flash": request.query_params.get("done"),
        "error": None,
        **context,
    }
    html = page_templates(request).get_template(name).render(said)
    return HTMLResponse(html, context.get("status_code", 200))


def _age(since: datetime, now: datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} days"


def _row(incident: Incident, runtime: Runtime, now: datetime) -> dict[str, Any]:
    paging, next_at = paging_now(incident, now)
    zone = runtime.rules.team.zone
    return {
        "incident": incident,
        "pipeline": runtime.rules.pipelines[incident.pipeline].name
        if incident.pipeline in runtime.rules.pipelines
        else incident.pipeline,
        "age": _age(incident.opened_at, now),
        "paging": ", ".join(paging),
        "next_at": next_at.astimezone(zone).strftime("%a %H:%M %Z") if next_at else None,
    }


@router.get("/")
async def index(
    request: Request, status: str = "open", pipeline: str = "", page: int = 1
) -> Response:
    session = await _session(request)
    runtime = _runtime(request)
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
        rows=[_row(incident, runtime, now) for incident in shown],
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
    )


def _page_of(
    store: IncidentStore, statuses: list[Status], pipeline: str, page: int
) -> tuple[list[Incident], int]:
    """One page of the statuses in order (triggered before acknowledged), newest first
    within each, and how many there are in all. Without a pipeline filter only the page
    is read; with one, every incident of those statuses is (open ones are few)."""
    start = (page - 1) * PAGE_SIZE
    if not pipeline:
        counts = [store.count(status) for status in statuses]
        shown: list[Incident] = []
        offset = start
        for status, count in zip(statuses, counts, strict=True):
            if offset < count and len(shown) < PAGE_SIZE:
                shown += store.page(status, offset, PAGE_SIZE - len(shown))
            offset = max(0, offset - count)
        return shown, sum(counts)
    found = [
        incident
        for status in statuses
        for incident in store.page(status, 0, store.count(status))
        if incident.pipeline == pipeline
    ]
    return found[start : start + PAGE_SIZE], len(found)


def _timeline_text(item: dict[str, Any]) -> str:
    kind = item.get("kind")
    if kind == "event":
        source = f" from {item['source']}" if item.get("source") else ""
        return f"{item.get('type')} ({item.get('action')}){source}: {item.get('summary') or ''}"
    if kind == "decision":
        return f"{item.get('decision')}: {item.get('reason')}"
    if kind in ("message", "message failed"):
        step = "" if item.get("round") is None else f" (round {item['round']}, step {item['step']})"
        return f"{item.get('message')} to {item.get('to')}{step} {item.get('detail') or ''}"
    skip = {"at", "kind"}
    return ", ".join(f"{key} {value}" for key, value in item.items() if key not in skip)


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: str) -> Response:
    session = await _session(request)
    runtime = _runtime(request)
    incident = runtime.engine.store.get(incident_id)
    if incident is None:
        return page_message(request, "Not found", f"There is no incident {incident_id}.", 404)
    now = runtime.clock.now()
    zone = runtime.rules.team.zone
    timeline = [
        {
            "when": datetime.fromisoformat(item["at"].replace("Z", "+00:00"))
            .astimezone(zone)
            .strftime("%a %b %d %H:%M:%S"),
            "kind": item["kind"],
            "text": _timeline_text(item),
        }
        for item in runtime.engine.store.timeline(incident_id)
    ]
    pipeline = runtime.rules.pipelines.get(incident.pipeline)
    row = _row(incident, runtime, now)
    return render(
        request,
        "incident.html",
        session,
        title=incident.summary or incident.type,
        incident=incident,
        pipeline=row["pipeline"],
        age=row["age"],
        paging=row["paging"],
        next_at=row["next_at"],
        runbook=pipeline.runbook.get(incident.type) if pipeline else None,
        timeline=timeline,
    )


async def _act(request: Request, incident_id: str, action: LinkAction, csrf: str) -> Response:
    session = await _form_session(request, csrf)
    runtime = _runtime(request)
    incident = find_incident(runtime, incident_id)
    done = "acknowledged" if action == "acknowledge" else "resolved"
    if not already_done(incident, action):
        perform(runtime, incident, action, session.person)
    return RedirectResponse(f"/incidents/{incident_id}?done={quote(f'Incident {done}.')}", 303)


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(request: Request, incident_id: str, csrf: str = Form("")) -> Response:
    return await _act(request, incident_id, "acknowledge", csrf)


@router.post("/incidents/{incident_id}/resolve")
async def resolve(request: Request, incident_id: str, csrf: str = Form("")) -> Response:
    return await _act(request, incident_id, "resolve", csrf)


def _oncall_context(runtime: Runtime, session: Session) -> dict[str, Any]:
    rules = runtime.current_rules()
    zone = rules.team.zone
    today = runtime.clock.now().astimezone(zone).date()
    last = today + timedelta(weeks=WEEKS_SHOWN)
    shifts = shifts_between(*local_day_span(today, last, zone), rules)
    rows = []
    for shift in shifts:
        first = shift.start.astimezone(zone).date()
        final = (shift.end - timedelta(microseconds=1)).astimezone(zone).date()
        days = [first + timedelta(days=n) for n in range((final - first).days + 1)]
        named = [f"{day:%b %d} {holiday_name(day, rules.team)}" for day in days]
        rows.append(
            {
                "shift": shift,
                "holidays": [
                    n for n, d in zip(named, days, strict=True) if holiday_name(d, rules.team)
                ],
            }
        )
    roster = runtime.roster.roster()
    absences: list[dict[str, Any]] = [
        {"id": a.id, "engineer": a.engineer, "first": a.first, "last": a.last, "reason": a.reason}
        for a in roster.absences
        if a.last >= today
    ]
    for person in runtime.rules.team.engineers:  # the YAML's, shown but not removable here
        for span in person.unavailable:
            if span.end >= today:
                absences.append(
                    {
                        "id": None,
                        "engineer": person.name,
                        "first": span.start,
                        "last": span.end,
                        "reason": "",
                    }
                )
    absences.sort(key=lambda a: (a["first"], a["engineer"]))
    public = []
    day = today
    while day <= last:
        name = holiday_name(day, rules.team)
        if name:
            public.append((day, name))
        day += timedelta(days=1)
    engineers = [person.name for person in rules.team.engineers]
    return {
        "title": "On call",
        "shifts": rows,
        "absences": absences,
        "overrides": [o for o in roster.overrides if o.end > runtime.clock.now()],
        "periods": [
            (p.name, p.start, p.end) for p in rules.oncall.holiday_periods if p.end >= today
        ],
        "public_holidays": public,
        "engineers": engineers,
        "is_engineer": session.person in engineers,
        "today": today.isoformat(),
    }


@router.get("/oncall")
async def oncall_page(request: Request) -> Response:
    session = await _session(request)
    runtime = _runtime(request)
    context = _oncall_context(runtime, session)
    url = await feed_url(request, runtime, session.person)
    return render(request, "oncall.html", session, feed_url=url, **context)


async def _oncall_error(request: Request, session: Session, message: str) -> HTMLResponse:
    runtime = _runtime(request)
    context = _oncall_context(runtime, session)
    url = await feed_url(request, runtime, session.person)
    said = {**context, "feed_url": url, "error": message, "status_code": 400}
    return render(request, "oncall.html", session, **said)


def _done(message: str) -> RedirectResponse:
    return RedirectResponse(f"/oncall?done={quote(message)}", 303)


@router.post("/oncall/away")
async def mark_away(
    request: Request,
    csrf: str = Form(""),
    engineer: str = Form(""),
    first: str = Form("", alias="from"),
    last: str = Form("", alias="to"),
    reason: str = Form(""),
) -> Response:
    session = await _form_session(request, csrf)
    runtime = _runtime(request)
    try:
        days = (date.fromisoformat(first), date.fromisoformat(last))
    except ValueError:
        return await _oncall_error(request, session, "from/to: dates like 2027-04-12, please")
    try:
        body = AbsenceIn(engineer=engineer, first=days[0], last=days[1], reason=reason)
        add_absence(runtime, body, session.person)
    except RosterInvalid as error:
        return await _oncall_error(request, session, str(error))
    return _done(f"{engineer} is away from {first} to {last}.")


async def _override(
    request: Request, session: Session, engineer: str, start: str, end: str, reason: str
) -> Response:
    runtime = _runtime(request)
    try:
        add_override(
            runtime,
            OverrideIn(engineer=engineer, start=start, end=end, reason=reason),
            session.person,
        )
    except RosterInvalid as error:
        return await _oncall_error(request, session, str(error))
    return _done(f"{engineer} is on call for that shift.")


@router.post("/oncall/take")
async def take_shift(
    request: Request, csrf: str = Form(""), start: str = Form(""), end: str = Form("")
) -> Response:
    session = await _form_session(request, csrf)
    return await _override(request, session, session.person, start, end, "taken in the console")


@router.post("/oncall/swap")
async def swap_shift(
    request: Request,
    csrf: str = Form(""),
    start: str = Form(""),
    end: str = Form(""),
    engineer: str = Form(""),
) -> Response:
    session = await _form_session(request, csrf)
    reason = f"swap with {session.person}"
    return await _override(request, session, engineer, start, end, reason)


@router.post("/oncall/{kind}/{change_id}/remove")
async def remove_change(
    request: Request, kind: str, change_id: str, csrf: str = Form("")
) -> Response:
    session = await _form_session(request, csrf)
    runtime = _runtime(request)
    which = {"absences": "absence", "overrides": "override"}.get(kind)
    if which is None:
        return page_message(request, "Not found", f"Nothing to remove at {kind}.", 404)
    removed = runtime.roster.remove(which, change_id, session.person, runtime.clock.now())  # type: ignore[arg-type]
    return _done(f"Removed that {which}." if removed else f"That {which} was already gone.")


def install(app: FastAPI) -> None:
    """A page without a session goes to /login; a form without its CSRF token, 403."""

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, error: SignInFirst) -> Response:
        return sign_in_redirect(error.path)

    @app.exception_handler(CsrfRefused)
    async def refused(request: Request, error: CsrfRefused) -> Response:
        return csrf_refused(request)
