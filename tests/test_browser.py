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
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from router.state import keys
from router.state.timers import Timer
from tests.deployment import Deployment
from tests.redis_server import RedisServer
from tests.stack import TOKEN, read_outbox, text_of, wait_until
from tests.support import copy_rules

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
PEOPLE = {"desktop": "kshama.kumar@example.com", "phone": "disha.kapoor@example.com"}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is needed")


def _one_second_steps(data: dict[str, Any]) -> None:
    for policy in data["escalation_policies"].values():
        for step in policy["steps"]:
            step["after"] = "1s"


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("browser")
    server = RedisServer(directory / "redis").start()
    rules = copy_rules(directory / "rules", routing=_one_second_steps)
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
        acked_at = incident["incident"]["acknowledged_at"].replace("+00:00", "Z")[:19]
        # every later step is fired (one second apart) and sends nothing
        wait_until(
            lambda: not _incident_timers(router, incident_id),
            timeout_s=30,
            what="the incident's remaining steps to fire",
        )
        wait_until(router.idle, timeout_s=30, what="the worker to drain")
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as api:
            timeline = api.get(f"{router.url}/v1/incidents/{incident_id}").json()["timeline"]
        sent = [e["at"][:19] for e in timeline if e["kind"] == "message"]
        assert sent and all(at <= acked_at for at in sent), (sent, acked_at)

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
