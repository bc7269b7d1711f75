"""/oncall: the next weeks of shifts, absences and overrides, and the forms that change
them (mark away, take, swap, remove), through the same code as the API. Engineers' forms
only (router.api.console.pages.engineer_form). The roster is read and written with the
synchronous client, off the event loop (run_in_threadpool)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from router.api import roster as roster_api
from router.api.calendarfeed import feed_url
from router.api.console.pages import (
    engineer_form,
    is_engineer,
    page_message,
    page_session,
    render,
    runtime_of,
)
from router.api.roster import AbsenceIn, OverrideIn, add_absence, add_override
from router.config.contact_methods import masked
from router.core.calendar import holiday_name
from router.core.paging import describe_delays
from router.core.roster import RosterInvalid
from router.core.rotation import shifts_between
from router.core.shiftcalendar import (
    calendar_days,
    calendar_weeks,
    shift_has_ended,
    shifts_ahead,
)
from router.core.times import local_day_span, parse_instant
from router.delivery.channels.trial import send_trial
from router.service.runtime import Runtime
from router.state.rosterstore import ChangeKind
from router.state.sessions import Session

router = APIRouter(include_in_schema=False)
WEEKS_SHOWN = 8
KINDS: dict[str, ChangeKind] = {"absences": "absence", "overrides": "override"}


def _oncall_context(runtime: Runtime, session: Session, engineer: bool) -> dict[str, Any]:
    rules = runtime.current_rules()
    zone = rules.team.zone
    now = runtime.clock.now()
    today = now.astimezone(zone).date()
    last = today + timedelta(weeks=WEEKS_SHOWN)
    # from now, not from midnight: a shift that ended this morning is neither shown nor
    # offered (taking it would write an override in the past)
    shifts = shifts_ahead(shifts_between(now, local_day_span(today, last, zone)[1], rules), now)
    rows = []
    for shift in shifts:
        first = max(shift.start.astimezone(zone).date(), today)
        final = (shift.end - timedelta(microseconds=1)).astimezone(zone).date()
        days = [first + timedelta(days=n) for n in range((final - first).days + 1)]
        rows.append(
            {
                "shift": shift,
                "current": shift.covers(now),
                "holidays": [
                    f"{day:%a %b %d}: {name}"
                    for day in days
                    if (name := holiday_name(day, rules.team))
                ],
            }
        )
    weeks = calendar_weeks(calendar_days(shifts, today, last, rules.team, now))
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
    paging = [
        {
            "name": person.name,
            "email": str(person.email),
            "methods": [masked(url) for url in person.contact_methods],
            "high": describe_delays(rules.team.rules_for(person).high),
            "low": describe_delays(rules.team.rules_for(person).low),
        }
        for person in rules.team.engineers
    ]
    return {
        "paging": paging,
        "title": "On call",
        "shifts": rows,
        "weeks": weeks,
        "absences": absences,
        "overrides": [o for o in roster.overrides if o.end > runtime.clock.now()],
        "periods": [
            (p.name, p.start, p.end) for p in rules.oncall.holiday_periods if p.end >= today
        ],
        "public_holidays": public,
        "engineers": engineers,
        "is_engineer": engineer,
        "today": today.isoformat(),
    }


@router.get("/oncall")
async def oncall_page(request: Request) -> Response:
    session = await page_session(request)
    url = await feed_url(request, runtime_of(request), session.person)
    return await run_in_threadpool(_oncall_page, request, session, url)


def _oncall_page(
    request: Request, session: Session, url: str, error: str | None = None
) -> HTMLResponse:
    context = _oncall_context(runtime_of(request), session, is_engineer(request, session))
    said = {**context, "feed_url": url}
    if error is not None:
        said.update(error=error, status_code=400)
    return render(request, "oncall.html", session, **said)


async def _oncall_error(request: Request, session: Session, message: str) -> HTMLResponse:
    url = await feed_url(request, runtime_of(request), session.person)
    return await run_in_threadpool(_oncall_page, request, session, url, message)


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
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)
    try:
        days = (date.fromisoformat(first), date.fromisoformat(last))
    except ValueError:
        return await _oncall_error(request, session, "from/to: dates like 2027-04-12, please")
    try:
        body = AbsenceIn(engineer=engineer, first=days[0], last=days[1], reason=reason)
        await run_in_threadpool(add_absence, runtime, body, session.person)
    except RosterInvalid as error:
        return await _oncall_error(request, session, str(error))
    return _done(f"{engineer} is away from {first} to {last}.")


async def _override(
    request: Request, session: Session, engineer: str, start: str, end: str, reason: str
) -> Response:
    runtime = runtime_of(request)
    ended = _ended_at(runtime, end)
    if ended is not None:
        said = (
            f"That shift has ended (at {ended}): only a shift that is on now or still "
            "ahead can be taken or swapped. Nothing was changed."
        )
        back = {"link": "/oncall", "link_text": "Back to on call"}
        return page_message(request, "That shift has ended", said, 409, **back)
    try:
        body = OverrideIn(engineer=engineer, start=start, end=end, reason=reason)
        await run_in_threadpool(add_override, runtime, body, session.person)
    except RosterInvalid as error:
        return await _oncall_error(request, session, str(error))
    return _done(f"{engineer} is on call for that shift.")


def _ended_at(runtime: Runtime, end: str) -> str | None:
    """When the shift ending at `end` ended, in team time, if it is over; None if it is
    not, or if `end` is no time at all (OverrideIn says what is wrong with it)."""
    zone = runtime.rules.team.zone
    try:
        shift_end = parse_instant(end, zone)
    except ValueError:
        return None
    if not shift_has_ended(shift_end, runtime.clock.now()):
        return None
    return shift_end.astimezone(zone).strftime("%a %b %d %H:%M %Z")


@router.post("/oncall/take")
async def take_shift(
    request: Request, csrf: str = Form(""), start: str = Form(""), end: str = Form("")
) -> Response:
    session = await engineer_form(request, csrf)
    return await _override(request, session, session.person, start, end, "taken in the console")


@router.post("/oncall/swap")
async def swap_shift(
    request: Request,
    csrf: str = Form(""),
    start: str = Form(""),
    end: str = Form(""),
    engineer: str = Form(""),
) -> Response:
    session = await engineer_form(request, csrf)
    reason = f"swap with {session.person}"
    return await _override(request, session, engineer, start, end, reason)


@router.post("/oncall/test")
async def send_me_a_test(request: Request, csrf: str = Form("")) -> Response:
    """A test notice to each of the signed-in person's contact methods, now."""
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)
    person = next((p for p in runtime.rules.team.engineers if p.name == session.person), None)
    if person is None or not person.contact_methods:
        said = "You have no contact methods besides email: add them in team.yaml."
        return await _oncall_error(request, session, said)
    backend, notices = runtime.notifier.backend, runtime.notices
    urls = person.contact_methods
    tried = await run_in_threadpool(send_trial, backend, notices, person.name, urls, person.name)
    failed = [f"{t.method}: {t.failure}" for t in tried if t.failure is not None]
    if failed:
        return await _oncall_error(request, session, "Test not delivered: " + "; ".join(failed))
    return _done(f"Test sent to {', '.join(t.method for t in tried)}.")


@router.post("/oncall/{kind}/{change_id}/remove")
async def remove_change(
    request: Request, kind: str, change_id: str, csrf: str = Form("")
) -> Response:
    session = await engineer_form(request, csrf)
    runtime = runtime_of(request)
    which = KINDS.get(kind)
    if which is None:
        return page_message(request, "Not found", f"Nothing to remove at {kind}.", 404)
    removed = await run_in_threadpool(
        roster_api.remove_change, runtime, which, change_id, session.person
    )
    return _done(f"Removed that {which}." if removed else f"That {which} was already gone.")
