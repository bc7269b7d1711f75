"""Every message kind, rendered from the shipped rules through the real core and templates."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from router.core.message import OutgoingMessage
from router.core.rules import Rules
from router.delivery.mail.compose import KINDS, Composer
from router.delivery.mail.samples import sample
from tests.support import RULES_DIR

TEMPLATES = RULES_DIR.parent / "templates" / "email"


@pytest.fixture(scope="module")
def composer(rules: Rules) -> Composer:
    return Composer(TEMPLATES, rules, "https://router.example.com", b"test-secret", 86400)


def _both(message: OutgoingMessage) -> list[str]:
    return [message.text, message.html]


# kind -> (subject, recipient, phrases every part must carry)
EXPECTED = {
    "page": (
        "[P1] Aggregate profit: unit-level profit missing for 2026-11-25",
        "disha.kapoor@example.com",
        [
            "Disha Kapoor, you are paged during a holiday (Thanksgiving Day)",
            "reported to investors",
            "Thu 2026-11-26 03:10 PST",
            "2026-11-26 11:10 UTC",
            "use the weekly average value to fill up the empty field",
            "Kshama Kumar will be paged next",
            "Thu 03:25 PST",
            "https://router.example.com/email/acknowledge?token=",
            "https://router.example.com/email/resolve?token=",
        ],
    ),
    "escalation": (
        "[P1] Aggregate profit: unit-level profit missing for 2026-11-25",
        "kshama.kumar@example.com",
        [
            "escalated to you: Disha Kapoor did not acknowledge in time",
            "weekly average value",
            "/email/acknowledge?token=",
        ],
    ),
    "deferred": (
        "[P3] Aggregate growth: growth query p95 at 40 s for the investor report",
        "biswa.rath@example.com",
        [
            "this came in at Sat 2026-11-28 03:00 PST, during the weekend",
            "waited for business hours",
            "blocking areas in the code",
            "/email/resolve?token=",
        ],
    ),
    "data_late": (
        "[P2] Unit-level profit: Unit-level profit data for 2026-11-25 not ready by 19:00 PST",
        "disha.kapoor@example.com",
        [
            "for 2026-11-25 was not ready by the 19:00 Pacific deadline",
            "needed for experiments",
            "backfill",
            "/email/acknowledge?token=",
        ],
    ),
    "resolved": (
        "[P1] Aggregate profit: unit-level profit missing for 2026-11-25",
        "disha.kapoor@example.com",
        [
            "Resolved at Thu 2026-11-26 03:30 PST by Disha Kapoor (email link)",
            "Nothing more will be sent",
        ],
    ),
    "report_ready": (
        "Aggregate engagement report ready for 2026-11-25",
        "analyst@example.com",
        ["report for 2026-11-25 is ready", "https://reports.example.com/engagement/2026-11-25"],
    ),
    "maintenance_summary": (
        "Maintenance over: warehouse upgrade (2 kept from paging, 1 still open)",
        "biswa.rath@example.com",
        [
            "the maintenance window mw_sample over Aggregate growth",
            "from Sat 2026-11-28 02:00 PST to Sat 2026-11-28 06:00 PST",
            "growth query p95 at 40 s for the investor report",
            "backfill broke",
            "/incidents/sample-1",
        ],
    ),
    "digest": (
        "2 more page(s) for you, 2 still open",
        "kshama.kumar@example.com",
        [
            "paged often in the last 10 minutes",
            "aggregate profit failed: schema mismatch",
            "(acknowledged, opened Tue 10:02 PST)",
            "/email/acknowledge?token=",
            "/incidents/sample-2",
        ],
    ),
    "handoff": (
        "On call: Kshama Kumar from Fri 2026-11-27 09:00 PST",
        "kshama.kumar@example.com",
        [
            "Sun 2026-11-29 09:00 PST",
            "Thanksgiving: two-day shifts",
            "Disha Kapoor",
            "only P1 errors and daily-data problems page",
        ],
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_says_what_it_must(composer: Composer, rules: Rules, kind: str) -> None:
    message = sample(kind, composer, rules)
    subject, to, phrases = EXPECTED[kind]
    assert (message.subject, message.to) == (subject, [to])
    for part in _both(message):
        for phrase in phrases:
            assert phrase in part, (kind, phrase)
    assert message.html.startswith("<!doctype html>") and 'name="viewport"' in message.html


def test_report_ready_says_nothing_about_incidents(composer: Composer, rules: Rules) -> None:
    message = sample("report_ready", composer, rules)
    html = message.html
    shown = html[: html.index("<style>")] + html[html.index("</style>") :]  # not the CSS
    for part in (message.text, shown):
        for word in ("incident", "Acknowledge", "paged", "P1", "P4"):
            assert word not in part


def test_incident_messages_share_one_thread(composer: Composer, rules: Rules) -> None:
    page, escalation = (sample(kind, composer, rules) for kind in ("page", "escalation"))
    assert page.thread_headers()["In-Reply-To"] == escalation.thread_headers()["In-Reply-To"]
    root = page.thread_headers()["In-Reply-To"]
    assert root.endswith("@alert-router>")
    # References: the thread, then the token a reply to this recipient carries back
    for message in (page, escalation):
        thread, token = message.thread_headers()["References"].split()
        assert thread == root and token == message.reply_id and token.startswith("<r.")
    assert sample("report_ready", composer, rules).thread_headers() == {}


def test_summary_is_escaped_in_html(composer: Composer, rules: Rules) -> None:
    evil = '<script>alert("x")</script> & more'
    message = sample("page", composer, rules, summary=evil)
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in message.html
    assert evil in message.text  # the text part is not HTML: shown as sent


def test_rfc5322_form_has_both_parts(composer: Composer, rules: Rules) -> None:
    from datetime import UTC, datetime
    from email import policy
    from email.message import EmailMessage
    from email.parser import BytesParser

    raw = sample("page", composer, rules).to_bytes("router@example.com", datetime.now(UTC))
    email = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(email, EmailMessage)
    assert email.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in email.iter_parts()] == ["text/plain", "text/html"]
    assert email["References"].split()[0] == email["In-Reply-To"]


# -- phone width, in a real browser --------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PHONE_PX = 390


def _chromium(tmp: Path, *args: str) -> str:
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed (.ci/run installs Debian's chromium)"
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


def _scroll_width(tmp: Path, page: Path) -> tuple[int, int]:
    """(scrollWidth, clientWidth) of the page laid out in a 390 px wide frame.

    Headless Chromium will not make a window narrower than 500 px, so the page is measured
    inside an iframe of phone width."""
    frame = tmp / f"frame-{page.stem}.html"
    frame.write_text(
        f"""<!doctype html><html><body style="margin:0">
<iframe id="f" src="{page.name}" style="width:{PHONE_PX}px;height:1600px;border:0"></iframe>
<script>document.getElementById('f').addEventListener('load', function () {{
  var d = this.contentDocument.documentElement;
  document.body.setAttribute('data-scroll', d.scrollWidth);
  document.body.setAttribute('data-client', d.clientWidth); }});</script></body></html>""",
        encoding="utf-8",
    )
    dom = _chromium(
        tmp,
        "--allow-file-access-from-files",
        "--window-size=800,1600",
        "--virtual-time-budget=5000",
        "--dump-dom",
        frame.as_uri(),
    )
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body"))]
    values = dict(part.split("=") for part in body.split() if part.startswith("data-"))
    return int(values["data-scroll"].strip('"')), int(values["data-client"].strip('"'))


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.parametrize("kind", ["page", "report_ready"])
def test_fits_a_phone_screen(composer: Composer, rules: Rules, tmp_path: Path, kind: str) -> None:
    # A long unbroken summary is the usual way an email overflows on a phone.
    message = sample(kind, composer, rules, summary="s3://warehouse/" + "x" * 120)
    page = tmp_path / f"{kind}.html"
    page.write_text(message.html, encoding="utf-8")
    shot = tmp_path / f"{kind}.png"
    _chromium(tmp_path, f"--window-size={PHONE_PX},1400", f"--screenshot={shot}", page.as_uri())
    assert _png_size(shot)[0] == PHONE_PX
    scroll, client = _scroll_width(tmp_path, page)
    assert client == PHONE_PX and scroll <= client, f"{kind} overflows: {scroll} > {client}"


def test_the_overflow_check_can_fail(tmp_path: Path) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        '<!doctype html><html><body><div style="width:700px">wide</div></body></html>',
        encoding="utf-8",
    )
    scroll, client = _scroll_width(tmp_path, page)
    assert scroll > client == PHONE_PX
