"""The console's doors: sign-in by emailed link, sessions, CSRF, and who may read what.
Against the running router (real Redis, worker, HTTP server); the browser flows are in
tests/test_browser.py."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio
from fastapi.testclient import TestClient

from router.api.app import create_api
from router.service.runtime import build_runtime
from router.state.sessions import Logins
from tests.stack import KSHAMA_TOKEN, Stack, running_stack, settings_for, text_of, wait_until
from tests.support import RULES_DIR, pacific

KSHAMA = "kshama.kumar@example.com"
READS = [
    "/v1/incidents",
    "/v1/incidents?status=open",
    "/v1/incidents/abc",
    "/v1/oncall",
    "/v1/oncall.ics",
    "/v1/overrides",
    "/v1/absences",
    "/v1/audit",
    "/v1/dead-letters",
]
PAGES = ["/", "/incidents/abc", "/oncall", "/?status=resolved&pipeline=growth.daily"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    outbox = tmp_path_factory.mktemp("console") / "outbox"
    with running_stack(RULES_DIR, outbox, pacific("2026-11-24 10:00")) as running:
        yield running


def browser(stack: Stack) -> httpx.Client:
    """No credentials: a browser that keeps cookies."""
    return httpx.Client(base_url=stack.url, verify=stack.tls, timeout=10)


def login_link(stack: Stack, address: str, before: set[str]) -> str:
    """The link of a sign-in email to `address` not among `before` (their Message-IDs),
    pointed at the test's server."""

    def found() -> str | None:
        for message in stack.emails():
            if str(message["Message-ID"]) in before:
                continue
            if message["X-Alert-Router-Kind"] == "login" and address in str(message["To"]):
                link = re.search(r"https?://\S+/login/link\?\S+", text_of(message))
                return link.group(0) if link else None
        return None

    link = wait_until(found, what=f"a sign-in email to {address}")
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def ask_link(client: httpx.Client, stack: Stack, address: str) -> str:
    before = {str(m["Message-ID"]) for m in stack.emails()}
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and csrf, form.text
    sent = client.post("/login", data={"email": address, "csrf": csrf.group(1), "next": "/"})
    assert sent.status_code == 200 and "Check your email" in sent.text
    return login_link(stack, address, before)


def sign_in(client: httpx.Client, stack: Stack, address: str = KSHAMA) -> str:
    """Signs `client` in; returns the session's CSRF token."""
    path = ask_link(client, stack, address)
    shown = client.get(path)
    assert shown.status_code == 200 and "Sign in as" in shown.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
    token = re.search(r'name="token" value="([^"]+)"', shown.text)
    assert csrf and token
    done = client.post(
        "/login/link", data={"token": token.group(1), "csrf": csrf.group(1), "next": "/"}
    )
    assert done.status_code == 303, done.text
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert page.status_code == 200 and found, page.text
    return found.group(1)


def test_every_read_needs_a_session_or_a_token(stack: Stack) -> None:
    with browser(stack) as client:
        for path in READS:
            answer = client.get(path)
            assert answer.status_code == 401, (path, answer.text)
            assert answer.headers["content-type"] == "application/json"
            assert "sign in" in answer.json()["message"]
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next=%2F"), path
    with stack.client() as client:
        for path in ["/v1/incidents", "/v1/oncall", "/v1/oncall.ics", "/v1/audit"]:
            assert client.get(path).status_code == 200, path


def test_a_login_link_works_once(stack: Stack) -> None:
    with browser(stack) as client:
        path = ask_link(client, stack, KSHAMA)
        first = client.get(path)
        assert "Sign in as Kshama Kumar" in first.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', first.text)
        token = re.search(r'name="token" value="([^"]+)"', first.text)
        assert csrf and token
        form = {"token": token.group(1), "csrf": csrf.group(1), "next": "/oncall"}
        assert client.post("/login/link", data=form).headers["location"] == "/oncall"
        assert client.get("/oncall").status_code == 200
    with browser(stack) as other:
        reused = other.get(path)
        assert reused.status_code == 410
        assert "already used" in reused.text
        forged = other.get(path.replace("token=", "token=x"))
        assert forged.status_code == 400
        assert "not valid" in forged.text


def test_an_unknown_address_gets_the_same_answer_and_no_email(stack: Stack) -> None:
    with browser(stack) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        before = len(stack.emails())
        sent = client.post("/login", data={"email": "stranger@example.com", "csrf": csrf.group(1)})
        assert sent.status_code == 200 and "Check your email" in sent.text
    stack.settle()
    assert len(stack.emails()) == before


def test_a_post_without_its_csrf_token_is_refused(stack: Stack) -> None:
    with browser(stack) as client:
        refused = client.post("/login", data={"email": KSHAMA})  # no form cookie, no token
        assert refused.status_code == 403
        csrf = sign_in(client, stack)
        stack.send_event(
            {
                "pipeline": "growth.aggregate",
                "type": "chart_broken",
                "summary": "chart",
                "dedup_key": "csrf",
            }
        )
        stack.settle()
        incident_id = wait_until(lambda: _incident_of(stack, "csrf"))
        for path, data in [
            (f"/incidents/{incident_id}/acknowledge", {}),
            (f"/incidents/{incident_id}/acknowledge", {"csrf": "wrong"}),
            (
                "/oncall/away",
                {"engineer": "Kshama Kumar", "from": "2026-12-01", "to": "2026-12-01"},
            ),
        ]:
            answer = client.post(path, data=data)
            assert answer.status_code == 403, (path, answer.text)
        # the API through a session needs the token in a header
        api = client.post(
            "/v1/absences",
            json={"engineer": "Kshama Kumar", "from": "2026-12-01", "to": "2026-12-01"},
        )
        assert api.status_code == 403
        assert stack.runtime.engine.store.get(incident_id).status == "triggered"  # type: ignore[union-attr]
        assert stack.runtime.roster.roster().absences == []
        acked = client.post(f"/incidents/{incident_id}/acknowledge", data={"csrf": csrf})
        assert acked.status_code == 303
        incident = stack.runtime.engine.store.get(incident_id)
        assert incident is not None and incident.acknowledged_by == "Kshama Kumar"


def _incident_of(stack: Stack, dedup_key: str) -> str | None:
    found = [i for i in stack.runtime.engine.store.listing(None) if i.dedup_key == dedup_key]
    return found[0].id if found else None


def test_a_named_token_records_who_acknowledged(stack: Stack) -> None:
    stack.send_event(
        {
            "pipeline": "growth.aggregate",
            "type": "chart_broken",
            "summary": "named",
            "dedup_key": "named",
        }
    )
    stack.settle()
    incident_id = wait_until(lambda: _incident_of(stack, "named"))
    with httpx.Client(
        base_url=stack.url, verify=stack.tls, headers={"Authorization": f"Bearer {KSHAMA_TOKEN}"}
    ) as client:
        answer = client.post(f"/v1/incidents/{incident_id}/acknowledge")
    assert answer.status_code == 200, answer.text
    assert answer.json()["incident"]["acknowledged_by"] == "kshama"


def test_the_feed_url_works_without_headers_until_revoked(stack: Stack) -> None:
    with browser(stack) as client:
        csrf = sign_in(client, stack)
        page = client.get("/oncall")
        found = re.search(r'id="feed" value="([^"]+)"', page.text)
        assert found
        feed = urlsplit(found.group(1).replace("&amp;", "&"))
        assert "engineer=Kshama+Kumar" in feed.query
        old = f"{feed.path}?{feed.query}"
        with browser(stack) as calendar_app:  # no cookie, no header: the key alone
            answer = calendar_app.get(old)
            assert answer.status_code == 200, answer.text
            assert b"BEGIN:VCALENDAR" in answer.content
            assert calendar_app.get(old.replace("key=", "key=x")).status_code == 401
        assert client.post("/oncall/feed-key", data={"csrf": csrf}).status_code == 303
        renewed = re.search(r'id="feed" value="([^"]+)"', client.get("/oncall").text)
        assert renewed and renewed.group(1) != found.group(1)
        with browser(stack) as calendar_app:
            assert calendar_app.get(old).status_code == 401
            new = urlsplit(renewed.group(1).replace("&amp;", "&"))
            assert calendar_app.get(f"{new.path}?{new.query}").status_code == 200


def test_take_and_swap_a_shift_from_the_console(stack: Stack) -> None:
    """Kshama Kumar takes Aruna Sharma's week of 2027-01-11, then gives it to Disha Kapoor."""
    start, end = "2027-01-11T17:00:00Z", "2027-01-18T17:00:00Z"
    with browser(stack) as client:
        csrf = sign_in(client, stack)
        taken = client.post("/oncall/take", data={"csrf": csrf, "start": start, "end": end})
        assert taken.status_code == 303, taken.text
        again = client.post("/oncall/take", data={"csrf": csrf, "start": start, "end": end})
        assert again.status_code == 400 and "overlaps the override of Kshama Kumar" in again.text
    overrides = stack.runtime.roster.roster().overrides
    assert [(o.engineer, o.by) for o in overrides] == [("Kshama Kumar", "Kshama Kumar")]
    with browser(stack) as client:
        csrf = sign_in(client, stack)
        removed = client.post(f"/oncall/overrides/{overrides[0].id}/remove", data={"csrf": csrf})
        assert removed.status_code == 303
        swapped = client.post(
            "/oncall/swap",
            data={"csrf": csrf, "start": start, "end": end, "engineer": "Disha Kapoor"},
        )
        assert swapped.status_code == 303
    (override,) = stack.runtime.roster.roster().overrides
    assert (override.engineer, override.reason) == ("Disha Kapoor", "swap with Kshama Kumar")
    with stack.client() as api:
        week = api.get("/v1/oncall", params={"days": 60}).json()["next"]
    assert {"name": "Disha Kapoor", "shift_start": start, "shift_end": end} in [
        {k: s[k] for k in ("name", "shift_start", "shift_end")} for s in week
    ]


def test_incidents_are_paged_not_capped(stack: Stack) -> None:
    events = [
        {
            "pipeline": "engagement.aggregate" if n % 2 else "growth.daily",
            "type": "dedup_error",
            "severity": "P4",
            "summary": f"quiet {n}",
            "dedup_key": f"paged-{n}",
        }
        for n in range(110)
    ]
    with stack.client() as api:
        assert api.post("/v1/events", json=events).status_code == 202
    stack.settle()
    with browser(stack) as client:
        sign_in(client, stack, "biswa.rath@example.com")
        open_count = stack.runtime.engine.store.count(
            "triggered"
        ) + stack.runtime.engine.store.count("acknowledged")
        seen: set[str] = set()
        for page in (1, 2, 3):
            html = client.get("/", params={"page": page}).text
            rows = re.findall(r'href="/incidents/([0-9a-f]{32})"', html)
            assert len(rows) == min(50, open_count - 50 * (page - 1)), page
            seen.update(rows)
            assert f"{open_count} incident(s), page {page} of 3" in html
        assert len(seen) == open_count >= 110
        filtered = client.get("/", params={"pipeline": "growth.daily", "page": 2}).text
        assert "55 incident(s), page 2 of 2" in filtered
        assert len(re.findall(r'href="/incidents/', filtered)) == 5


def test_at_most_five_sign_in_emails_per_person_per_window(stack: Stack) -> None:
    address = "analyst@example.com"
    with browser(stack) as client:
        for _ in range(6):
            form = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert csrf
            sent = client.post("/login", data={"email": address, "csrf": csrf.group(1)})
            assert "Check your email" in sent.text
    stack.settle()
    logins = [
        m for m in stack.emails() if m["X-Alert-Router-Kind"] == "login" and address in str(m["To"])
    ]
    assert len(logins) == 5


@pytest.mark.parametrize(
    ("public_url", "secure"),
    [("https://router.example.com", True), ("http://127.0.0.1:8080", False)],
)
def test_the_session_cookie_is_secure_behind_https(
    tmp_path: Path, public_url: str, secure: bool
) -> None:
    """In-process (no worker): the link is made as POST /login would make it."""
    runtime = build_runtime(
        settings_for(RULES_DIR, tmp_path / "outbox", db=6, ROUTER_PUBLIC_URL=public_url)
    )
    runtime.redis.flushdb()
    try:
        secret = runtime.settings.secret_key.get_secret_value().encode()

        async def new_token() -> str:
            async with redis.asyncio.Redis.from_url(runtime.settings.redis_url) as client:
                return await Logins(secret).start(client, "Kshama Kumar")

        token = asyncio.run(new_token())
        with TestClient(create_api(runtime), base_url="https://testserver") as client:
            shown = client.get("/login/link", params={"token": token})
            csrf = re.search(r'name="csrf" value="([^"]+)"', shown.text)
            assert csrf
            done = client.post(
                "/login/link", data={"token": token, "csrf": csrf.group(1)}, follow_redirects=False
            )
        assert done.status_code == 303
        cookie = next(
            c for c in done.headers.get_list("set-cookie") if c.startswith("router_session=")
        )
        assert ("Secure" in cookie) == secure
    finally:
        runtime.redis.flushdb()


def test_a_note_from_the_console_is_on_the_incident_page(stack: Stack) -> None:
    stack.send_event(
        {
            "pipeline": "engagement.aggregate",
            "type": "dedup_error",
            "summary": "dupes",
            "dedup_key": "console-note",
        }
    )
    stack.settle()
    incident_id = wait_until(lambda: _incident_of(stack, "console-note"))
    with browser(stack) as client:
        csrf = sign_in(client, stack, "aruna.sharma@example.com")
        refused = client.post(f"/incidents/{incident_id}/notes", data={"text": "no token"})
        assert refused.status_code == 403
        bad = client.post(
            f"/incidents/{incident_id}/notes", data={"csrf": csrf, "text": "x", "estimate": "later"}
        )
        assert bad.status_code == 400 and "estimate: 'later' is neither" in html.unescape(bad.text)
        added = client.post(
            f"/incidents/{incident_id}/notes",
            data={"csrf": csrf, "text": "Root cause: a retried load", "estimate": "4h"},
        )
        assert added.status_code == 303
        page = client.get(f"/incidents/{incident_id}").text
    assert "Aruna Sharma: Root cause: a retried load (estimate: 2026-11-24T22:00:00Z)" in page


@pytest.fixture(scope="module")
def disha(stack: Stack) -> Iterator[tuple[httpx.Client, str]]:
    """One session (client, CSRF token) for the page checks below: sign-in emails are
    limited to five a person per 15 minutes."""
    with browser(stack) as client:
        yield client, sign_in(client, stack, "disha.kapoor@example.com")


def _shift_list(page: str) -> list[str]:
    """The /oncall agenda's items, in order."""
    found = re.search(r'<ol class="agenda" id="shifts">(.*?)</ol>', page, re.S)
    assert found, page
    return re.findall(r"<li class=\"shift.*?</li>\s*(?=<li class=\"shift|$)", found.group(1), re.S)


def test_oncall_starts_with_the_current_shift_marked_now(disha: tuple[httpx.Client, str]) -> None:
    """Tue 2026-11-24 10:00 Pacific: Biswa Kalyan Rath's shift (since Mon 09:00) is on;
    the one that ended on Monday is neither listed nor offered."""
    page = disha[0].get("/oncall").text
    shifts = _shift_list(page)
    assert 'aria-current="true"' in shifts[0] and "Biswa Kalyan Rath" in shifts[0]
    assert '<span class="badge now">now</span>' in shifts[0]
    assert all('aria-current="true"' not in later for later in shifts[1:])
    ends = re.findall(r'name="end" value="([^"]+)"', page)
    assert ends and min(ends) == "2026-11-25T17:00:00Z"  # the current shift's end: none before
    today = re.search(r'<td class="day today[^"]*" aria-current="date">(.*?)</td>', page, re.S)
    assert today and "Biswa Kalyan Rath" in today.group(1) and "now" in today.group(1)
    assert page.count('<th scope="col">') == 7
    # the handoff on Wed 25 at 09:00 is shown within the day
    wednesday = re.search(r"Nov 25</div>(.*?)</td>", page, re.S)
    assert wednesday and re.search(r"Biswa Kalyan Rath.*until 09:00", wednesday.group(1), re.S)
    assert re.search(r"Disha Kapoor.*from 09:00", wednesday.group(1), re.S)
    # Mark away comes before the calendar
    assert page.index('id="away"') < page.index('id="calendar"')


def test_holidays_are_one_per_line(disha: tuple[httpx.Client, str]) -> None:
    page = disha[0].get("/oncall").text
    holidays = re.search(r'<ul class="card lines" id="holidays">(.*?)</ul>', page, re.S)
    assert holidays
    lines = re.findall(r"<li>(.*?)</li>", holidays.group(1), re.S)
    assert "Thu Nov 26: Thanksgiving Day" in lines
    assert "Fri Nov 27: Day after Thanksgiving" in lines
    assert "Thu Dec 24: Christmas Eve" in lines and "Fri Dec 25: Christmas Day" in lines
    # within a shift too: Kshama Kumar's Winter-holidays shift has both
    christmas = next(item for item in _shift_list(page) if "Christmas Eve" in item)
    assert "<li>Thu Dec 24: Christmas Eve</li><li>Fri Dec 25: Christmas Day</li>" in christmas


@pytest.mark.parametrize("form", ["take", "swap"])
def test_a_shift_that_has_ended_is_refused(
    stack: Stack, disha: tuple[httpx.Client, str], form: str
) -> None:
    """Last week's shift (ended Mon 2026-11-23 09:00 Pacific): 409, said in words, and
    the roster is as it was."""
    before = stack.runtime.roster.roster()
    with stack.client() as api:
        audit_before = api.get("/v1/audit").json()["audit"]
    client, csrf = disha
    refused = client.post(
        f"/oncall/{form}",
        data={
            "csrf": csrf,
            "start": "2026-11-16T17:00:00Z",
            "end": "2026-11-23T17:00:00Z",
            "engineer": "Aruna Sharma",
        },
    )
    assert refused.status_code == 409
    assert "That shift has ended (at Mon Nov 23 09:00 PST)" in refused.text
    assert "Nothing was changed." in refused.text
    stack.settle()
    assert stack.runtime.roster.roster() == before
    with stack.client() as api:
        assert api.get("/v1/audit").json()["audit"] == audit_before


ATTENTION = [
    # (summary, pipeline, type, severity sent): opened in this order, at one instant
    ("attention P3", "growth.aggregate", "slow_query", None),
    ("attention P2 acknowledged", "profit.aggregate", "aggregation_error", None),
    ("attention P1", "growth.aggregate", "permission_denied", "P1"),
    ("attention P2", "profit.aggregate", "job_failed", None),
]


@pytest.fixture(scope="module")
def attention(stack: Stack) -> dict[str, str | None]:
    """The incidents above, one acknowledged; their ids by summary."""
    for summary, pipeline, event_type, severity in ATTENTION:
        event = {"pipeline": pipeline, "type": event_type, "summary": summary}
        stack.send_event(
            {**event, "dedup_key": summary, **({"severity": severity} if severity else {})}
        )
    stack.settle()
    ids = {summary: _incident_of(stack, summary) for summary, *_ in ATTENTION}  # all folded
    assert all(ids.values()), ids
    with stack.client() as api:
        assert (
            api.post(f"/v1/incidents/{ids['attention P2 acknowledged']}/acknowledge").status_code
            == 200
        )
    stack.settle()
    return ids


def _rows(page: str) -> list[str]:
    return re.findall(
        r"<tr(?: class=\"paging-you\")?>\s*<td data-label=\"Severity\">.*?</tr>", page, re.S
    )


def test_incidents_are_listed_by_status_then_severity(
    disha: tuple[httpx.Client, str], attention: dict[str, str | None]
) -> None:
    first = disha[0].get("/").text
    pages = int(m.group(1)) if (m := re.search(r"page 1 of (\d+)", first)) else 1
    rows = [row for n in range(1, pages + 1) for row in _rows(disha[0].get(f"/?page={n}").text)]
    shown = [s for row in rows for s, *_ in ATTENTION if f">{s}</a>" in row]
    assert shown == ["attention P1", "attention P2", "attention P3", "attention P2 acknowledged"]
    statuses = {"triggered": 0, "acknowledged": 1}
    keys = [
        (statuses[status], severity)
        for row in rows
        for severity, status in [
            (
                re.findall(r'class="badge (P\d)"', row)[0],
                re.findall(r'class="badge (triggered|acknowledged)"', row)[0],
            )
        ]
    ]
    assert keys == sorted(keys), keys  # every page: triggered first, P1 first within


def test_paging_you_marks_the_incidents_that_page_the_signed_in_person(
    disha: tuple[httpx.Client, str], attention: dict[str, str | None]
) -> None:
    """At 10:00 the incidents on growth.aggregate (owners Biswa Kalyan Rath, then Disha
    Kapoor) have paged Biswa Kalyan Rath and pages Disha Kapoor next; the aggregation
    errors on profit.aggregate page Kshama Kumar and then Aruna Sharma."""
    page = disha[0].get("/").text
    marked = {
        s
        for row in _rows(page)
        for s, *_ in ATTENTION
        if f">{s}</a>" in row and "paging you" in row
    }
    assert marked == {"attention P3", "attention P1"}
    for row in _rows(page):
        assert ("paging you" in row) == row.startswith('<tr class="paging-you">')
    assert 'id="paging-you"' in disha[0].get(f"/incidents/{attention['attention P3']}").text
    assert 'id="paging-you"' not in disha[0].get(f"/incidents/{attention['attention P2']}").text


@pytest.mark.parametrize(
    ("summary", "sentence"),
    [
        ("attention P3", "Paged next:</b> Disha Kapoor at 10:15 PST if nobody acknowledges."),
        ("attention P2", "Paged next:</b> Aruna Sharma at 10:15 PST if nobody acknowledges."),
        ("attention P2 acknowledged", "Paged next:</b> Nobody is paged while it is acknowledged."),
    ],
)
def test_the_incident_page_says_who_is_paged_next(
    disha: tuple[httpx.Client, str], attention: dict[str, str | None], summary: str, sentence: str
) -> None:
    page = disha[0].get(f"/incidents/{attention[summary]}").text
    assert sentence in page
    assert not re.search(r"\bround \d|\bstep \d", page)  # no internal numbers
    assert "message" in page  # the timeline lists the page it sent, in words
