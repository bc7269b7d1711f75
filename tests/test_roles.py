"""Roles: engineers act on incidents and the roster; analysts read and add notes. One
case per row of docs/api.md's rights table and route: an analyst's attempt (a console
session, or a token named after the analyst) is a 403 (JSON on /v1, a page on the
console and for links) and writes nothing (every router key compared, the webhook and
push receiver called by nobody); an engineer's does what it says. Against the running
router: real Redis, worker, HTTP server."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

import httpx
import pytest

from router.api.auth import role_of
from router.state import actions
from router.state.sessions import COOKIE
from tests.mailservers import WebhookReceiver, webhook_receiver
from tests.stack import KSHAMA_TOKEN, TOKEN, Stack, console_session, running_stack
from tests.support import copy_rules, pacific

ANALYST = "Investor Reporting Analyst"
ANALYST_TOKEN = "test-token-analyst"  # named analyst@example.com: an analyst's rights
ENGINEER = "Kshama Kumar"
NOW = pacific("2026-11-24 10:00")
Via = Literal["v1", "console", "link"]
Needs = Literal["triggered", "acknowledged", "absence", "override", "window", "nothing"]


@dataclass(frozen=True)
class Route:
    """One route of a row of the rights table (docs/api.md): how it is called, what it
    needs to exist first, and what an engineer gets."""

    row: str
    via: Via
    method: str
    path: str
    body: dict[str, str] | None = None
    needs: Needs = "nothing"
    ok: int = 200
    recipient_link: str = ""  # via="link": which signed link ("acknowledge", "button", ...)

    @property
    def id(self) -> str:
        return f"{self.row}: {self.method} {self.path.split('?')[0]}"


ENGINEER_ONLY = [
    Route("acknowledge", "v1", "POST", "/v1/incidents/{incident}/acknowledge", needs="triggered"),
    Route(
        "acknowledge",
        "console",
        "POST",
        "/incidents/{incident}/acknowledge",
        needs="triggered",
        ok=303,
    ),
    Route(
        "acknowledge",
        "link",
        "POST",
        "/email/acknowledge",
        needs="triggered",
        recipient_link="acknowledge",
    ),
    Route(
        "acknowledge",
        "link",
        "POST",
        "/push/acknowledge",
        needs="triggered",
        recipient_link="acknowledge",
    ),
    Route("resolve", "v1", "POST", "/v1/incidents/{incident}/resolve", needs="triggered"),
    Route("resolve", "console", "POST", "/incidents/{incident}/resolve", needs="triggered", ok=303),
    Route("resolve", "link", "POST", "/email/resolve", needs="triggered", recipient_link="resolve"),
    Route("snooze", "v1", "POST", "/v1/incidents/{incident}/snooze", {"for": "1h"}, "acknowledged"),
    Route(
        "snooze",
        "console",
        "POST",
        "/incidents/{incident}/snooze",
        {"for": "1h"},
        "acknowledged",
        303,
    ),
    Route(
        "run a runbook action",
        "console",
        "POST",
        "/incidents/{incident}/actions/0",
        needs="triggered",
        ok=303,
    ),
    Route(
        "run a runbook action",
        "link",
        "POST",
        "/actions/run",
        needs="triggered",
        recipient_link="button",
    ),
    Route(
        "run a runbook action",
        "link",
        "GET",
        "/actions/run",
        needs="triggered",
        recipient_link="button",
    ),
    Route(
        "mark someone away",
        "v1",
        "POST",
        "/v1/absences",
        {"engineer": "Aruna Sharma", "from": "{day}", "to": "{day}"},
        ok=201,
    ),
    Route(
        "mark someone away",
        "console",
        "POST",
        "/oncall/away",
        {"engineer": "Aruna Sharma", "from": "{day}", "to": "{day}"},
        ok=303,
    ),
    Route(
        "put someone on call",
        "v1",
        "POST",
        "/v1/overrides",
        {"engineer": "Disha Kapoor", "start": "{start}", "end": "{end}"},
        ok=201,
    ),
    Route(
        "put someone on call",
        "console",
        "POST",
        "/oncall/take",
        {"start": "{start}", "end": "{end}"},
        ok=303,
    ),
    Route(
        "put someone on call",
        "console",
        "POST",
        "/oncall/swap",
        {"engineer": "Disha Kapoor", "start": "{start}", "end": "{end}"},
        ok=303,
    ),
    Route(
        "remove an absence or override", "v1", "DELETE", "/v1/absences/{absence}", needs="absence"
    ),
    Route(
        "remove an absence or override",
        "v1",
        "DELETE",
        "/v1/overrides/{override}",
        needs="override",
    ),
    Route(
        "remove an absence or override",
        "console",
        "POST",
        "/oncall/absences/{absence}/remove",
        needs="absence",
        ok=303,
    ),
    Route(
        "remove an absence or override",
        "console",
        "POST",
        "/oncall/overrides/{override}/remove",
        needs="override",
        ok=303,
    ),
    Route("send a test to oneself", "console", "POST", "/oncall/test", ok=303),
    Route(
        "set or end a maintenance window",
        "v1",
        "POST",
        "/v1/maintenance",
        {"pipelines": "all", "start": "{start}", "end": "{end}", "reason": "upgrade"},
        ok=201,
    ),
    Route(
        "set or end a maintenance window",
        "console",
        "POST",
        "/maintenance",
        {"pipelines": "growth.aggregate", "start": "{start}", "end": "{end}", "reason": "x"},
        ok=303,
    ),
    Route(
        "set or end a maintenance window",
        "v1",
        "DELETE",
        "/v1/maintenance/{window}",
        needs="window",
    ),
    Route(
        "set or end a maintenance window",
        "console",
        "POST",
        "/maintenance/{window}/end",
        needs="window",
        ok=303,
    ),
    Route(
        "send events",
        "v1",
        "POST",
        "/v1/events",
        {"pipeline": "growth.aggregate", "type": "slow_query", "summary": "x"},
        ok=202,
    ),
]
EVERYONE = [
    Route("read", "v1", "GET", "/v1/incidents", needs="triggered"),
    Route("read", "v1", "GET", "/v1/incidents/{incident}", needs="triggered"),
    Route("read", "v1", "GET", "/v1/oncall"),
    Route("read", "v1", "GET", "/v1/oncall.ics"),
    Route("read", "v1", "GET", "/v1/absences"),
    Route("read", "v1", "GET", "/v1/overrides"),
    Route("read", "v1", "GET", "/v1/audit"),
    Route("read", "v1", "GET", "/v1/dead-letters"),
    Route("read", "console", "GET", "/?pipeline=growth.aggregate", needs="triggered"),
    Route("read", "console", "GET", "/incidents/{incident}", needs="triggered"),
    Route("read", "console", "GET", "/oncall"),
    Route("read", "v1", "GET", "/v1/maintenance"),
    Route("read", "console", "GET", "/maintenance"),
    Route(
        "add a note",
        "v1",
        "POST",
        "/v1/incidents/{incident}/notes",
        {"text": "seen it"},
        "triggered",
        201,
    ),
    Route(
        "add a note",
        "console",
        "POST",
        "/incidents/{incident}/notes",
        {"text": "seen it"},
        "triggered",
        303,
    ),
    Route("renew one's calendar feed", "console", "POST", "/oncall/feed-key", ok=303),
]


@dataclass
class Team:
    stack: Stack
    receiver: WebhookReceiver
    sessions: dict[str, tuple[str, str]]  # person -> (session id, CSRF token)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """The shipped rules, with a confirm webhook on growth.aggregate's chart_broken and
    Kshama Kumar's pushes, both at a local receiver; a token named after the analyst."""
    directory = tmp_path_factory.mktemp("roles")
    with webhook_receiver() as (receiver, url), pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_HOOK_SECRET", "hook-secret-0123456789")

        def with_hook(data: dict[str, Any]) -> None:
            growth = next(p for p in data["pipelines"] if p["id"] == "growth.aggregate")
            growth["actions"]["chart_broken"] = [
                {
                    "label": "Rebuild the charts",
                    "confirm": True,
                    "webhook": {"url": f"{url}/rebuild", "secret_env": "TEST_HOOK_SECRET"},
                }
            ]

        def with_push(data: dict[str, Any]) -> None:
            data["engineers"][0]["contact_methods"] = [f"json://{url.removeprefix('http://')}/k"]

        rules = copy_rules(directory / "rules", pipelines=with_hook, team=with_push)
        tokens = f"{TOKEN},kshama={KSHAMA_TOKEN},analyst@example.com={ANALYST_TOKEN}"
        with running_stack(rules, directory / "outbox", NOW, ROUTER_API_TOKENS=tokens) as stack:
            sessions = {person: console_session(stack, person) for person in (ANALYST, ENGINEER)}
            yield Team(stack, receiver, sessions)


def _state(stack: Stack) -> dict[bytes, Any]:
    """Every router key with its value (sessions, sign-in links, rate-limit counters and
    worker heartbeats aside), and what is queued for the workers."""
    return stack.contents(skip=(b"ar:session:", b"ar:login:", b"ar:ratelimit:"))


_weeks = itertools.count(1)


@dataclass(frozen=True)
class Filled:
    path: str
    body: dict[str, str] | None
    incident: str = ""


def _fill(route: Route, team: Team) -> Filled:
    """The route's path and body, with what it needs made first (by an engineer's token)
    and days no other case uses."""
    stack = team.stack
    week = next(_weeks)
    start = pacific("2027-01-04 09:00") + timedelta(weeks=2 * week)
    day = date(2027, 6, 1) + timedelta(days=week)
    values = {
        "start": start.isoformat(),
        "end": (start + timedelta(days=1)).isoformat(),
        "day": day.isoformat(),
    }
    with stack.client() as api:
        if route.needs in ("triggered", "acknowledged"):
            dedup_key = f"roles-{week}"
            event = {"pipeline": "growth.aggregate", "type": "chart_broken", "summary": "blank"}
            stack.send_event({**event, "dedup_key": dedup_key})
            stack.settle()
            values["incident"] = stack.incident_id(dedup_key)
            if route.needs == "acknowledged":
                acked = api.post(f"/v1/incidents/{values['incident']}/acknowledge")
                assert acked.status_code == 200, acked.text
        if route.needs == "absence":
            body = {"engineer": "Biswa Kalyan Rath", "from": values["day"], "to": values["day"]}
            made = api.post("/v1/absences", json=body)
            assert made.status_code == 201, made.text
            values["absence"] = made.json()["absence"]["id"]
        if route.needs == "override":
            body = {"engineer": "Aruna Sharma", "start": values["start"], "end": values["end"]}
            made = api.post("/v1/overrides", json=body)
            assert made.status_code == 201, made.text
            values["override"] = made.json()["override"]["id"]
            start += timedelta(weeks=1)  # the route's own override: another week
            values.update(start=start.isoformat(), end=(start + timedelta(days=1)).isoformat())
        if route.needs == "window":
            body = {"pipelines": "all", "reason": "upgrade", "end": values["end"]}
            made = api.post("/v1/maintenance", json={**body, "start": values["start"]})
            assert made.status_code == 201, made.text
            values["window"] = made.json()["maintenance"]["id"]
    stack.settle()
    said = {k: v.format(**values) for k, v in route.body.items()} if route.body else None
    return Filled(route.path.format(**values), said, values.get("incident", ""))


def _link_token(team: Team, route: Route, incident_id: str, recipient: str) -> str:
    """The signed link a page email carries, made out to `recipient`."""
    runtime = team.stack.runtime
    if route.recipient_link == "button":
        secret = runtime.settings.secret_key.get_secret_value().encode()
        return actions.button_token(secret, incident_id, 0, recipient)
    incident = runtime.engine.store.get(incident_id)
    assert incident is not None
    action: Any = route.recipient_link
    link = runtime.composer.link(incident, recipient, action, runtime.clock.now())
    return link.split("token=", 1)[1]


def _call(team: Team, route: Route, who: str, filled: Filled, token: str = "") -> httpx.Response:
    """The route called as `who`: with their console session, a bearer `token`, or (a
    link's route) the signed link made out to them."""
    stack = team.stack
    with httpx.Client(base_url=stack.url, verify=stack.tls, timeout=30) as client:
        if route.via == "link":
            link = {"token": _link_token(team, route, filled.incident, who)}
            if route.method == "GET" or route.path.startswith("/push/"):  # a push button's
                return client.request(route.method, route.path, params=link)  # is its URL
            return client.post(route.path, data=link)
        if token:
            headers = {"Authorization": f"Bearer {token}"}
            return client.request(route.method, filled.path, json=filled.body, headers=headers)
        session_id, csrf = team.sessions[who]
        client.cookies.set(COOKIE, session_id)
        if route.via == "v1":
            headers = {"X-CSRF-Token": csrf}
            return client.request(route.method, filled.path, json=filled.body, headers=headers)
        if route.method == "GET":
            return client.get(filled.path)
        return client.post(filled.path, data={**(filled.body or {}), "csrf": csrf})


def _refused(route: Route, answer: httpx.Response) -> None:
    assert answer.status_code == 403, (route.id, answer.status_code, answer.text[:300])
    if route.via == "v1":
        said = answer.json()
        assert said["message"].startswith("engineers only"), said
        assert said["errors"] == [said["message"]]
    elif route.path.startswith("/push/"):  # a push button's answer is JSON, for ntfy
        assert "is not an engineer now: nothing was changed" in answer.json()["message"]
    else:
        assert answer.headers["content-type"].startswith("text/html")
        assert "Engineers only" in answer.text and "Nothing was" in answer.text


@pytest.mark.parametrize("route", ENGINEER_ONLY, ids=lambda r: r.id)
def test_an_analyst_is_refused_and_nothing_is_written(team: Team, route: Route) -> None:
    tokens = ["", ANALYST_TOKEN] if route.via == "v1" else [""]  # a session; a token too
    if route.row == "send events":  # a token's only: no session sends events
        tokens = [ANALYST_TOKEN]
    for token in tokens:
        filled = _fill(route, team)
        before, calls = _state(team.stack), len(team.receiver.calls)
        _refused(route, _call(team, route, ANALYST, filled, token))
        team.stack.settle()
        assert _state(team.stack) == before, f"{route.id} wrote something"
        assert len(team.receiver.calls) == calls, f"{route.id} called out"


@pytest.mark.parametrize("route", ENGINEER_ONLY, ids=lambda r: r.id)
def test_an_engineer_may(team: Team, route: Route) -> None:
    filled = _fill(route, team)
    before, calls = _state(team.stack), len(team.receiver.calls)
    token = KSHAMA_TOKEN if route.row == "send events" else ""
    answer = _call(team, route, ENGINEER, filled, token)
    assert answer.status_code == route.ok, (route.id, answer.text[:300])
    if route.via == "console":
        assert "/login" not in answer.headers["location"]
    team.stack.settle()
    if route.row == "send a test to oneself":
        assert len(team.receiver.calls) == calls + 1  # the push, nothing stored
    elif route.method != "GET":
        assert _state(team.stack) != before, f"{route.id} changed nothing"


@pytest.mark.parametrize("route", EVERYONE, ids=lambda r: r.id)
def test_an_analyst_may(team: Team, route: Route) -> None:
    tokens = ["", ANALYST_TOKEN] if route.via == "v1" else [""]
    for token in tokens:
        filled = _fill(route, team)
        answer = _call(team, route, ANALYST, filled, token)
        assert answer.status_code == route.ok, (route.id, token, answer.text[:300])
        if route.row == "add a note":
            notes = [
                item
                for item in team.stack.runtime.engine.store.timeline(filled.incident)
                if item["kind"] == "note"
            ]
            by = "analyst@example.com" if token else ANALYST
            assert [(n["by"], n["text"]) for n in notes] == [(by, "seen it")]


def test_the_console_offers_analysts_no_engineer_buttons(team: Team) -> None:
    incident_id = _fill(EVERYONE[0], team).incident
    pages = {}
    for person in (ANALYST, ENGINEER):
        session_id, _ = team.sessions[person]
        with httpx.Client(base_url=team.stack.url, verify=team.stack.tls) as client:
            client.cookies.set(COOKIE, session_id)
            pages[person] = (
                client.get(f"/incidents/{incident_id}").text,
                client.get("/oncall").text,
            )
    analyst_incident, analyst_oncall = pages[ANALYST]
    engineer_incident, engineer_oncall = pages[ENGINEER]
    for action in ("acknowledge", "resolve", "actions/0"):
        assert f"/incidents/{incident_id}/{action}" in engineer_incident
        assert f"/incidents/{incident_id}/{action}" not in analyst_incident
    assert f"/incidents/{incident_id}/notes" in analyst_incident  # a note: anyone
    assert 'action="/oncall/away"' in engineer_oncall
    assert 'action="/oncall/away"' not in analyst_oncall and "/remove" not in analyst_oncall


def test_roles_from_team_yaml_and_token_names(team: Team) -> None:
    rules = team.stack.runtime.rules
    assert role_of(rules, ENGINEER) == "engineer"
    assert role_of(rules, ANALYST) == "analyst"
    assert role_of(rules, "Somebody Gone") == "analyst"  # signed in, no longer an engineer
    assert role_of(rules, "kshama", token=True) == "engineer"  # operators, integrations
    assert role_of(rules, "Analyst@Example.com", token=True) == "analyst"
