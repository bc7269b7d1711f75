"""team.yaml: time zone, business hours, holidays, engineers and analysts."""

from __future__ import annotations

from datetime import date, time
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import EmailStr, Field, field_validator, model_validator

from router.core.durations import DurationS
from router.core.rules.base import ClockTime, DateRange, Strict

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _mon_to_fri() -> list[Weekday]:
    return list(WEEKDAYS[:5])


class BusinessHours(Strict):
    days: list[Weekday] = Field(default_factory=_mon_to_fri, min_length=1)
    start: ClockTime = time(9, 0)
    end: ClockTime = time(18, 0)

    @model_validator(mode="after")
    def _ordered(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be later in the day than start")
        return self

    def is_business_weekday(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.days


class ExtraHoliday(Strict):
    date: date
    name: str


class Holidays(Strict):
    country: str = "US"
    subdivision: str | None = None
    extra: list[ExtraHoliday] = Field(default_factory=list)


class NotificationRules(Strict):
    """When a person's contact methods are used for a page, by urgency (PagerDuty's
    notification rules): each entry is one push to every contact method, that long after
    the page's email, sent only while the incident is still unacknowledged. The email
    itself always goes at once."""

    high: list[DurationS] = Field(default_factory=lambda: [0])
    """P1 and daily data (what pages at night): push at once."""
    low: list[DurationS] = Field(default_factory=lambda: [5 * 60])
    """Every other page: push after 5 minutes if nobody has acknowledged."""


class Engineer(Strict):
    name: str
    email: EmailStr
    unavailable: list[DateRange] = Field(default_factory=list)
    contact_methods: list[str] = Field(default_factory=list)
    """Notification URLs in apprise's syntax (ntfys://ntfy.sh/topic, slack://...,
    json://host/path): checked when the rules load; secrets in them never print."""
    notification_rules: NotificationRules | None = None
    """This person's own rules; the team's `notification_rules` otherwise."""
    slack_id: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,}$")
    """The Slack member id (U...): a button pressed in Slack acts as this person. Without
    it, the Slack user's email is matched to `email` (users.info)."""

    def available_on(self, day: date) -> bool:
        return not any(span.contains(day) for span in self.unavailable)


class Analyst(Strict):
    name: str
    email: EmailStr


class Contact(Strict):
    """Someone outside the rotation the runbooks' actions email (the IT helpdesk)."""

    name: str
    email: EmailStr


class SlackApp(Strict):
    """The team stream through the router's Slack app (SLACK_BOT_TOKEN): threads per
    incident, with Acknowledge and Resolve buttons."""

    channel: str = Field(min_length=1)
    """A channel id (C...) or name the app was invited to."""


class Team(Strict):
    timezone: str = "America/Los_Angeles"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    holidays: Holidays = Field(default_factory=Holidays)
    engineers: list[Engineer] = Field(min_length=1)
    analysts: list[Analyst] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    notification_rules: NotificationRules = Field(default_factory=NotificationRules)
    """The default for every engineer without rules of their own."""
    chat: str | None = None
    """The team's chat channel (an apprise URL): one line per incident change, never a
    page."""
    slack: SlackApp | None = None
    """The team stream in Slack through the router's app, instead of `chat`."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Team:
        for people in (self.engineers, self.analysts):
            names = [person.name for person in people]
            doubled = sorted({name for name in names if names.count(name) > 1})
            if doubled:
                raise ValueError(f"names listed twice: {', '.join(doubled)}")
        return self

    @model_validator(mode="after")
    def _one_team_stream(self) -> Team:
        if self.chat and self.slack:
            raise ValueError("chat and slack are both set: the team stream goes to one of them")
        ids = [person.slack_id for person in self.engineers if person.slack_id]
        doubled = sorted({each for each in ids if ids.count(each) > 1})
        if doubled:
            raise ValueError(f"slack_id listed twice: {', '.join(doubled)}")
        return self

    def has_chat(self) -> bool:
        """Whether incidents get a stream of lines (an apprise chat or the Slack app)."""
        return bool(self.chat) or self.slack is not None

    def by_slack_id(self, slack_id: str) -> Engineer | None:
        return next((p for p in self.engineers if p.slack_id == slack_id), None)

    def by_email(self, email: str) -> Engineer | None:
        wanted = email.strip().lower()
        return next((p for p in self.engineers if str(p.email).lower() == wanted), None)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def contact(self, name: str) -> Contact:
        for contact in self.contacts:
            if contact.name == name:
                return contact
        raise KeyError(name)

    def uses_channels(self) -> bool:
        """Whether anything is ever pushed or posted besides email."""
        return bool(self.chat) or any(person.contact_methods for person in self.engineers)

    def rules_for(self, person: Engineer) -> NotificationRules:
        return person.notification_rules or self.notification_rules

    def engineer(self, name: str) -> Engineer:
        for person in self.engineers:
            if person.name == name:
                return person
        raise KeyError(name)
