"""The console in a real browser (Playwright driving Debian's Chromium) against the
router's own processes (`router api`, `router worker`, `router scheduler`) on a Redis
the test owns, on the real clock, at a desktop and a phone width: sign in through the
emailed link, see a fresh P1, acknowledge it and see escalation stop, mark the on-call
engineer away and see the shift move.

ROUTER_SCREENSHOTS=docs writes the screenshots the README shows."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from router.delivery.firing import PREPARED_FRESH_S
from router.state import keys
from router.state.timers import Timer
from tests.deployment import Deployment
from tests.redis_server import RedisServer
from tests.stack import TOKEN, read_outbox, text_of, wait_until
from tests.support import PACIFIC, copy_rules

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
ACK_WRITE_S = 0.5
"""How long after its `acknowledged_at` an acknowledgement's write may land, at most."""
PEOPLE = {"desktop": "kshama.kumar@example.com", "phone": "disha.kapoor@example.com"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is needed")


def _one_second_steps(data: dict[str, Any]) -> None:
    for policy in data["escalation_policies"].values():
        for step in policy["steps"]:
            step["after"] = "1s"
    # Fixed plans for the "at a glance" checks, whatever the hour: glance_you pages Kshama
    # Kumar (desktop) now and Disha Kapoor (phone) an hour later; glance_other, Aruna
    # Sharma only.
    data["escalation_policies"]["glance_you"] = {
        "steps": [{"notify": "Kshama Kumar", "after": "1h"}, {"notify": "Disha Kapoor"}]
    }
    data["escalation_policies"]["glance_other"] = {"steps": [{"notify": "Aruna Sharma"}]}
    data["rules"][:0] = [
        {
            "name": "glance you",
            "match": {"type": "glance_you"},
            "severity": "P1",
            "escalation": "glance_you",
        },
        {
            "name": "glance other",
            "match": {"type": "glance_other"},
            "severity": "P3",
            "escalation": "glance_other",
        },
    ]


TODAY = datetime.now(PACIFIC).date()
HOLIDAYS = {
    TODAY + timedelta(days=2): "Glance day one",
    TODAY + timedelta(days=3): "Glance day two",
}


def _two_holidays(data: dict[str, Any]) -> None:
    """Two company days off in a row, in the calendar's first week whatever the date."""
    data["holidays"]["extra"] += [
        {"date": day.isoformat(), "name": name} for day, name in HOLIDAYS.items()
    ]


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("browser")
    server = RedisServer(directory / "redis").start()
    rules = copy_rules(directory / "rules", routing=_one_second_steps, team=_two_holidays)
    deployment = Deployment(
        directory,
        server,
        0,
        rules,
        ROUTER_EMAIL_BACKEND="outbox",
        ROUTER_OUTBOX_DIR=str(directory / "outbox"),
    )
    deployment.env["ROUTER_PUBLIC_URL"] = deployment.url
    try:
        deployment.api()
        deployment.worker(concurrency=2)
        deployment.scheduler()
        yield deployment
    finally:
        deployment.stop()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def _outbox(router: Deployment) -> Path:
    return Path(router.env["ROUTER_OUTBOX_DIR"])


def _login_link(router: Deployment, address: str, seen: set[str]) -> str:
    def found() -> str | None:
        for message in read_outbox(_outbox(router)):
            if str(message["Message-ID"]) in seen:
                continue
            if message["X-Alert-Router-Kind"] == "login" and address in str(message["To"]):
                link = re.search(r"http://\S+/login/link\?\S+", text_of(message))
                return link.group(0) if link else None
        return None

    link: str = wait_until(found, timeout_s=30, what=f"the sign-in email to {address}")
    return link


def _shot(page: Page, name: str, width: str) -> None:
    target = os.environ.get("ROUTER_SCREENSHOTS")
    if target:
        page.screenshot(path=str(Path(target) / f"console-{name}-{width}.png"), full_page=True)


def _incident_timers(router: Deployment, incident_id: str) -> list[str]:
    with router.client() as client:
        members = [m.decode() for m in client.zrange(keys.TIMERS, 0, -1)]
        members += [m.decode() for m in client.zrange(keys.LEASED, 0, -1)]
    steps = [Timer.parse(m) for m in members]
    return [t.member() for t in steps if t.incident == incident_id and t.kind == "step"]


def _first_page_to(router: Deployment, dedup_key: str) -> str:
    """Send a P1 on profit.unit (no owners: on call first, at any hour); who got its page."""
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        event = {
            "pipeline": "profit.unit",
            "type": "job_failed",
            "severity": "P1",
            "summary": dedup_key,
            "dedup_key": dedup_key,
        }
        assert api.post(f"{router.url}/v1/events", json=event).status_code == 202

        def incident_id() -> str | None:
            found = api.get(f"{router.url}/v1/incidents").json()["incidents"]
            return next((i["id"] for i in found if i["dedup_key"] == dedup_key), None)

        opened: str = wait_until(incident_id, timeout_s=30, what="the P1's incident")

    def page_to() -> str | None:
        for message in read_outbox(_outbox(router)):
            key = str(message["X-Alert-Router-Idempotency-Key"])
            if message["X-Alert-Router-Kind"] == "page" and key.strip().startswith(
                f"{opened}:0:0:"
            ):
                return str(message["To"])
        return None

    to: str = wait_until(page_to, timeout_s=30, what="the P1's first page")
    return to


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_console_in_a_browser(router: Deployment, browser: Browser, width: str) -> None:
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h})
    page = context.new_page()
    try:
        # Sign in through the emailed link.
        page.goto(f"{router.url}/oncall")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        seen = {str(m["Message-ID"]) for m in read_outbox(_outbox(router))}
        page.fill("input[name=email]", PEOPLE[width])
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Check your email")
        page.goto(_login_link(router, PEOPLE[width], seen))
        page.click("button:has-text('Sign in')")
        expect(page).to_have_url(f"{router.url}/oncall")

        # A fresh P1 is on /.
        summary = f"Growth report failed to build ({width})"
        answer = httpx.post(
            f"{router.url}/v1/events",
            json={
                "pipeline": "growth.aggregate",
                "type": "job_failed",
                "severity": "P1",
                "summary": summary,
                "dedup_key": f"browser-{width}",
            },
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status_code == 202, answer.text
        page.goto(f"{router.url}/")
        row = page.locator("#incidents tr", has_text=summary)
        for _ in range(50):  # the worker folds it within moments: reload until it shows
            if row.count():
                break
            page.wait_for_timeout(200)
            page.reload()
        expect(row).to_have_count(1)
        expect(row.locator(".badge.P1")).to_be_visible()
        expect(row.locator(".badge.triggered")).to_be_visible()
        _shot(page, "incidents", width)

        # Acknowledge it from its page: escalation stops.
        row.locator("a").click()
        incident_id = page.url.rsplit("/", 1)[1]
        page.click("button:has-text('Acknowledge')")
        expect(page.locator("#status")).to_have_text("acknowledged")
        expect(page.locator("[role=status]")).to_have_text("Incident acknowledged.")
        expect(page.locator("#timeline")).to_contain_text("acknowledge")
        _shot(page, "incident", width)
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            incident = api.get(f"{router.url}/v1/incidents/{incident_id}").json()
        assert (
            incident["incident"]["acknowledged_by"]
            == {"desktop": "Kshama Kumar", "phone": "Disha Kapoor"}[width]
        )
        acked_at = datetime.fromisoformat(incident["incident"]["acknowledged_at"])
        # every later step is fired (one second apart) and sends nothing
        wait_until(
            lambda: not _incident_timers(router, incident_id),
            timeout_s=30,
            what="the incident's remaining steps to fire",
        )
        wait_until(router.idle, timeout_s=30, what="the worker to drain")
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            timeline = api.get(f"{router.url}/v1/incidents/{incident_id}").json()["timeline"]
        sent = [datetime.fromisoformat(e["at"]) for e in timeline if e["kind"] == "message"]
        # A step fires on what its task read at most PREPARED_FRESH_S before (firing's
        # read-ahead): one due within that of the click may still go; none after it.
        latest = acked_at + timedelta(seconds=PREPARED_FRESH_S + ACK_WRITE_S)
        assert sent and all(at <= latest for at in sent), (sent, acked_at)

        # Mark whoever is on call away today: the shift moves to someone else.
        page.goto(f"{router.url}/oncall")
        first = page.locator("#shifts li.shift").first.locator(".engineer")
        on_call = first.inner_text().strip()
        page.select_option("#away select[name=engineer]", on_call)
        page.fill("#away input[name=reason]", "sick")
        page.click("#away button[type=submit]")
        expect(page.locator("[role=status]")).to_contain_text(f"{on_call} is away")
        expect(first).not_to_have_text(on_call)
        expect(page.locator("#absences")).to_contain_text("sick")
        _shot(page, "oncall", width)
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            now = api.get(f"{router.url}/v1/oncall").json()["now"]
            assert now["name"] != on_call
            audit = api.get(f"{router.url}/v1/audit").json()["audit"]
        assert audit[0]["action"] == "absence added"
        assert audit[0]["by"] in ("Kshama Kumar", "Disha Kapoor")
        # the worker process sees it too: a P1 on an unowned pipeline pages the new on-call
        assert _first_page_to(router, f"after-away-{width}") == now["email"]
        # and back, for the next width
        page.locator("#absences tr", has_text="sick").locator("button").click()
        expect(page.locator("[role=status]")).to_have_text("Removed that absence.")
        expect(first).to_have_text(on_call)
    finally:
        context.close()


def _sign_in(router: Deployment, page: Page, address: str, path: str) -> None:
    page.goto(f"{router.url}{path}")
    seen = {str(m["Message-ID"]) for m in read_outbox(_outbox(router))}
    page.fill("input[name=email]", address)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Check your email")
    page.goto(_login_link(router, address, seen))
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{router.url}{path}")


# (label, type, severity, acknowledged): sent in this order; listed in GLANCE_ORDER
GLANCE = [
    ("P3 other", "glance_other", "P3", False),
    ("P1 acknowledged", "glance_other", "P1", True),
    ("P4 other", "glance_other", "P4", False),
    ("P2 other", "glance_other", "P2", False),
    ("P1 you", "glance_you", "P1", False),
]
GLANCE_ORDER = ["P1 you", "P2 other", "P3 other", "P4 other", "P1 acknowledged"]


def _glance_incidents(router: Deployment, width: str) -> dict[str, str]:
    """The incidents above on profit.unit, one acknowledged; their ids by label."""
    with httpx.Client(base_url=router.url, headers={"Authorization": f"Bearer {TOKEN}"}) as api:
        for label, event_type, severity, _ in GLANCE:
            event = {
                "pipeline": "profit.unit",
                "type": event_type,
                "severity": severity,
                "summary": f"Glance {width} {label}",
                "dedup_key": f"glance-{width}-{label}",
            }
            assert api.post("/v1/events", json=event).status_code == 202

        def opened() -> dict[str, str] | None:
            found = {i["summary"]: i["id"] for i in api.get("/v1/incidents").json()["incidents"]}
            ids = {label: found.get(f"Glance {width} {label}") for label, *_ in GLANCE}
            return None if None in ids.values() else {k: str(v) for k, v in ids.items()}

        ids: dict[str, str] = wait_until(opened, timeout_s=30, what="the glance incidents")
        for label, *_, acknowledged in GLANCE:
            if acknowledged:
                assert api.post(f"/v1/incidents/{ids[label]}/acknowledge").status_code == 200
    return ids


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_console_at_a_glance(router: Deployment, browser: Browser, width: str) -> None:
    """Order and colours on /, "paging you", who is paged next, and /oncall as a
    calendar, with incidents and holidays the test made."""
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h})
    page = context.new_page()
    try:
        _sign_in(router, page, PEOPLE[width], "/oncall")
        ids = _glance_incidents(router, width)

        # /: triggered first, P1 first; four severities in four colours, each labelled
        page.goto(f"{router.url}/")
        rows = page.locator("#incidents tbody tr", has_text=f"Glance {width}")
        expect(rows).to_have_count(len(GLANCE))
        summaries = [text.strip() for text in rows.locator("td a").all_inner_texts()]
        assert summaries == [f"Glance {width} {label}" for label in GLANCE_ORDER]
        colours = {}
        for severity in ("P1", "P2", "P3", "P4"):
            badge = rows.locator(f".badge.{severity}").first
            expect(badge).to_have_text(severity)
            colours[severity] = badge.evaluate("b => getComputedStyle(b).backgroundColor")
        assert len(set(colours.values())) == 4, colours
        # "paging you": only the incident whose plan names the signed-in person
        marked = rows.filter(has_text="paging you")
        expect(marked).to_have_count(1)
        expect(marked).to_contain_text(f"Glance {width} P1 you")
        _shot(page, "incidents", width)

        # its page says who is paged next, in words, and has no round or step numbers
        page.goto(f"{router.url}/incidents/{ids['P1 you']}")
        expect(page.locator("#paging-you")).to_be_visible()
        expect(page.locator("#next-page")).to_have_text(
            re.compile(
                r"Paged next: Disha Kapoor at (\w{3} \w{3} \d\d )?\d\d:\d\d P[SD]T if nobody acknowledges\."
            )
        )
        expect(page.locator("main")).not_to_contain_text(re.compile(r"\b(round|step) \d"))
        _shot(page, "incident", width)
        page.goto(f"{router.url}/incidents/{ids['P1 acknowledged']}")
        expect(page.locator("#next-page")).to_have_text(
            "Paged next: Nobody is paged while it is acknowledged."
        )
        expect(page.locator("#paging-you")).to_have_count(0)

        # /oncall: Mark away on the first screen, the current shift first and marked now
        page.goto(f"{router.url}/oncall")
        away = page.locator("#away button[type=submit]").bounding_box()
        assert away is not None and away["y"] + away["height"] <= h, away
        current = page.locator("#shifts li.shift").first
        expect(current).to_have_attribute("aria-current", "true")
        expect(current.locator(".badge.now")).to_have_text("now")
        expect(page.locator("#shifts li.shift[aria-current]")).to_have_count(1)
        # no shift that has ended is offered
        now_z = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        ends = page.locator("#shifts input[name=end]").evaluate_all("es => es.map(e => e.value)")
        assert ends and min(ends) > now_z, (ends, now_z)
        # a week grid on a desktop, the agenda alone on a phone
        calendar = page.locator("#calendar")
        if width == "desktop":
            expect(calendar).to_be_visible()
            expect(calendar.locator("thead th")).to_have_count(7)
            today = calendar.locator("td[aria-current=date]")
            expect(today.locator(".piece.current .badge.now")).to_have_text("now")
            expect(calendar.locator("td", has_text="Glance day one")).to_have_count(1)
        else:
            expect(calendar).to_be_hidden()
        expect(current).to_be_visible()
        # holidays one per line, in the list and within the shift they fall in
        for day, name in HOLIDAYS.items():
            line = page.locator("#holidays li", has_text=name)
            expect(line).to_have_count(1)
            expect(line).to_have_text(f"{day:%a %b %d}: {name}")
            # (a day with a handoff is in two shifts: each lists it)
            expect(page.locator("#shifts ul.holidays li", has_text=name).first).to_have_text(
                f"{day:%a %b %d}: {name}"
            )
        one, two = (page.locator("#holidays li", has_text=n) for n in HOLIDAYS.values())
        first_box, second_box = one.bounding_box(), two.bounding_box()
        assert first_box and second_box and second_box["y"] >= first_box["y"] + first_box["height"]
        _shot(page, "oncall", width)
    finally:
        context.close()
