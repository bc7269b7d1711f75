"""Shifts as an RFC 5545 calendar (the `icalendar` package): one VEVENT per shift, in
the team's zone with its VTIMEZONE, and a UID made from the shift's start and engineer,
so a calendar app that fetches the feed again updates its events rather than adding."""

from __future__ import annotations

import hashlib
from datetime import datetime

from icalendar import Calendar, Event

from router.core.rotation import Shift, shift_note
from router.core.rules import Rules


def shift_uid(shift: Shift) -> str:
    seed = f"{shift.start.isoformat()}|{shift.engineer}".encode()
    return f"shift-{hashlib.sha256(seed).hexdigest()[:24]}@alert-router"


def shifts_calendar(shifts: list[Shift], rules: Rules, now: datetime, title: str) -> bytes:
    zone = rules.team.zone
    calendar = Calendar()
    calendar.add("prodid", "-//alert-router//on-call//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", title)
    calendar.add("x-wr-timezone", rules.team.timezone)
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift))
        event.add("dtstamp", now)
        event.add("dtstart", shift.start.astimezone(zone))
        event.add("dtend", shift.end.astimezone(zone))
        note = shift_note(shift)
        event.add("summary", f"On call: {shift.engineer}" + (f" ({note})" if note else ""))
        event.add("description", f"{shift.engineer} <{shift.email}> is on call.")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    feed: bytes = calendar.to_ical()
    return feed
