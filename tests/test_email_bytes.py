"""The bytes `OutgoingMessage.to_bytes` writes are the email the `email` package built.

`reference_email` is the builder the backends used before (an `EmailMessage`, then the
package's serialisers), kept here as it was. Each message is written both ways, in each
form a backend sends (a file, SMTP's CRLF, the console's 7bit text), and both are parsed
with `BytesParser(policy=email.policy.default)`: every header and its decoded value, the
MIME tree (content types and their parameters, content ids) and every part's decoded
content must be the same. Only the multipart boundaries differ (random both ways).
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import io
import re
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.core.incidents import Incident
from router.core.message import OutgoingMessage
from router.core.rotation import shift_at
from router.core.rules import Rules
from router.core.timeline import Line
from router.core.times import parse_instant, require_aware
from router.core.weekly import HandedOver, PipelineTimes, WeekReport
from router.delivery.mail.backends.console import ConsoleBackend
from router.delivery.mail.backends.outbox import OutboxBackend
from router.delivery.mail.backends.smtp import SmtpBackend
from router.delivery.mail.compose import KINDS, Composer
from router.delivery.mail.samples import NIGHT, _incident, sample
from tests.mailservers import smtp_server
from tests.stack import free_port, read_outbox
from tests.support import RULES_DIR

TEMPLATES = RULES_DIR.parent / "templates" / "email"
NOW = datetime(2026, 11, 26, 11, 10, tzinfo=UTC)
SENDERS = ["alert-router@example.com", "Alert Router — Équipe <alert-router@example.com>"]
NON_ASCII = "Ünïcode résumé — 日本語 🙂 naïve"


def reference_message_id(seed: str) -> str:
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@alert-router>"


def reference_email(message: OutgoingMessage, sender: str, sent_at: datetime) -> EmailMessage:
    """The old builder, OutgoingMessage.to_email before to_bytes, unchanged but for the
    reply token References has held since (router.core.replies)."""
    built = EmailMessage()
    built["From"] = sender
    built["To"] = ", ".join(message.to)
    built["Subject"] = message.subject
    built["Date"] = format_datetime(require_aware(sent_at))
    built["Message-ID"] = reference_message_id(message.idempotency_key)
    if message.thread:
        root = reference_message_id(f"thread:{message.thread}")
        references = root if message.reply_id is None else f"{root} {message.reply_id}"
        built["In-Reply-To"], built["References"] = root, references
    built["X-Alert-Router-Kind"] = message.kind
    built["X-Alert-Router-Idempotency-Key"] = message.idempotency_key
    built.set_content(message.text)
    built.add_alternative(message.html, subtype="html")
    html_part = built.get_body(("html",))
    for content_id, data in message.images.items():
        assert html_part is not None
        html_part.add_related(
            base64.b64decode(data), maintype="image", subtype="png", cid=f"<{content_id}>"
        )
    return built


def _smtp_form(built: EmailMessage) -> bytes:
    """smtplib's send_message flattening (CRLF), but for its ">From " mangling: the new
    bytes keep a line that starts with "From " (test_from_and_dot_lines_reach_smtp)."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False).flatten(built, linesep="\r\n")
    return out.getvalue()


FORMS = ("file", "smtp", "console")


def reference_forms(message: OutgoingMessage, sender: str) -> dict[str, bytes]:
    """As the outbox (bytes(EmailMessage)), SMTP and the console (as_string) wrote it."""
    built = reference_email(message, sender, NOW)
    return {
        "file": bytes(built),
        "smtp": _smtp_form(built),
        "console": built.as_string().encode(),
    }


def new_forms(message: OutgoingMessage, sender: str) -> dict[str, bytes]:
    return {
        "file": message.to_bytes(sender, NOW),
        "smtp": message.to_bytes(sender, NOW, "\r\n"),
        "console": message.to_bytes(sender, NOW, seven_bit=True),
    }


@dataclass(frozen=True)
class Part:
    content_type: str
    params: tuple[tuple[str, str], ...]
    """Content-Type's parameters (charset, ...), a multipart's boundary aside."""
    headers: tuple[tuple[str, str], ...]
    """Each header in order with its decoded value; a multipart's Content-Type without
    its boundary."""
    content: str | bytes | None
    """Decoded; None for a multipart (its parts follow it)."""
    defects: tuple[str, ...]


def tree(raw: bytes) -> list[Part]:
    parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
    parts = []
    for part in parsed.walk():
        assert isinstance(part, EmailMessage)
        params = tuple(
            (name, value)
            for name, value in part["Content-Type"].params.items()
            if name != "boundary"
        )
        shown_type = part.get_content_type() + "".join(f"; {n}={v}" for n, v in params)
        headers = tuple(
            (name, shown_type if name == "Content-Type" and part.is_multipart() else str(value))
            for name, value in part.items()
        )
        content = None if part.is_multipart() else part.get_content()
        defects = tuple(type(defect).__name__ for defect in part.defects)
        parts.append(Part(part.get_content_type(), params, headers, content, defects))
    return parts


def header(parts: list[Part], name: str) -> str:
    (value,) = [v for n, v in parts[0].headers if n == name]
    return value


def as_meant(parts: list[Part], message: OutgoingMessage) -> list[Part]:
    """The reference with its Subject and key as meant: the email package's folding drops
    or doubles a space between encoded words it merges across a line break (and joins two
    over-long words), which the bytes do not. Its leading space stays: when it moves a
    value to the next line whole, it parses so, and the bytes do the same."""
    meant = {"Subject": message.subject, "X-Alert-Router-Idempotency-Key": message.idempotency_key}
    headers = tuple(
        (name, (" " if value.startswith(" ") else "") + meant[name] if name in meant else value)
        for name, value in parts[0].headers
    )
    return [replace(parts[0], headers=headers), *parts[1:]]


def assert_same_email(new: bytes, reference: bytes, message: OutgoingMessage) -> None:
    """The same email as the reference, but where the reference garbled a header value:
    each of the Subject and the key parses as the reference's or as meant (the bytes
    may fold one value as the package does and the other as meant)."""
    got, want = tree(new), tree(reference)
    meant = as_meant(want, message)
    assert got[1:] == want[1:]
    assert replace(got[0], headers=()) == replace(want[0], headers=())
    headers = zip(got[0].headers, want[0].headers, meant[0].headers, strict=True)
    for ours, theirs, intended in headers:
        assert ours in (theirs, intended)
    assert not any(part.defects for part in got)


def assert_well_formed(raw: bytes, form: str) -> None:
    lines = raw.split(b"\r\n" if form == "smtp" else b"\n")
    assert max(map(len, lines)) <= 998  # RFC 5322, 2.1.1
    if form == "smtp":
        assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    else:
        assert b"\r" not in raw
    if form == "console":
        assert raw.isascii()


# -- the messages ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def composer(rules: Rules) -> Composer:
    return Composer(TEMPLATES, rules, "https://router.example.com", b"test-secret", 86400)


def _png(width_px: int, height_px: int) -> str:
    """A real PNG (grey), base64 as OutgoingMessage.images holds it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header_data = (
        width_px.to_bytes(4, "big") + height_px.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    )
    rows = b"".join(b"\x00" + bytes([128]) * width_px for _ in range(height_px))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header_data)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode()


def _incident_for(rules: Rules, summary: str) -> tuple[Incident, datetime]:
    return _incident(
        rules,
        {
            "pipeline": "profit.aggregate",
            "type": "data_missing",
            "severity": "P1",
            "summary": summary,
        },
        NIGHT,
    )


def _weekly(composer: Composer, rules: Rules, recipient: str) -> OutgoingMessage:
    incoming = shift_at(parse_instant("2026-11-27T09:00:00", rules.team.zone), rules)
    outgoing = shift_at(incoming.start - timedelta(microseconds=1), rules)
    incident, _ = _incident_for(rules, f"open over the handoff: {NON_ASCII}")
    report = WeekReport(
        incoming.start - timedelta(days=7),
        incoming.start,
        pages={
            "Disha Kapoor": Counter({"nights": 2, "holidays": 1}),
            "Kshama Kumar": Counter({"business hours": 3}),
        },
        times=[PipelineTimes("Aggregate profit", 3, 4.5, 2, 61.0)],
        handed_over=[
            HandedOver(
                incident,
                [
                    Line(
                        "note",
                        "2026-11-26T18:00:00Z",
                        by="Disha Kapoor",
                        text="waiting on upstream",
                        estimate="2026-11-27T18:00:00Z",
                    )
                ],
            )
        ],
    )
    return composer.weekly_report(report, incoming, outgoing, recipient, "kshama.kumar@example.com")


LONG = "s3://warehouse/" + "x" * 950  # a word too long for any folded header line


def _messages(composer: Composer, rules: Rules) -> dict[str, OutgoingMessage]:
    found: dict[str, OutgoingMessage] = {}
    for kind in KINDS:
        found[kind] = sample(kind, composer, rules)
        found[f"{kind}-non-ascii"] = sample(kind, composer, rules, summary=NON_ASCII)
        found[f"{kind}-long"] = sample(kind, composer, rules, summary=f"{LONG} {NON_ASCII}")
    incident, now = _incident_for(rules, NON_ASCII)
    found["action-email"] = composer.action_email(incident, "it-helpdesk", ["Disha Kapoor"], "a:1")
    pipeline = rules.pipeline("engagement.aggregate")
    found["report-delayed"] = composer.report_delayed(
        pipeline, "2026-11-25", "analyst@example.com", [incident, incident], "2026-11-26T18:00:00Z"
    )
    expires = now + timedelta(minutes=15)
    link = "https://router.example.com/signin/link?token=" + "t" * 200
    found["login"] = composer.login("José Müller", "jose@example.com", link, expires)
    found["weekly-report-chart"] = _weekly(composer, rules, "Kshama Kumar")
    found["weekly-report-non-ascii-key"] = _weekly(composer, rules, "Kshama Kumar — Ünïcode")
    page = found["page"]
    found["dot-and-from-lines"] = page.model_copy(
        update={
            "text": ".\n..two dots\nFrom here on\n.From\n" + page.text + "\n.",
            "html": ".\n<p>x</p>\nFrom the top\n" + page.html,
        }
    )
    found["long-lines"] = page.model_copy(
        update={
            "text": "x" * 3000 + "\n" + ("é" * 700 + "\n") * 3 + " trailing space \n\ttab\t\n",
            "html": page.html.replace("<h1>", "<h1>" + "y" * 2500),
        }
    )
    found["non-ascii-body-short-lines"] = page.model_copy(
        update={"text": "Résumé.\n" * 30, "html": "<p>日本語</p>\n" * 30}
    )
    found["mostly-non-ascii-lines"] = page.model_copy(  # base64, not quoted-printable
        update={
            "text": ("日本語のテキスト" * 20 + "\n") * 12,
            "html": ("<p>" + "ж" * 90 + "</p>\n") * 12,
        }
    )
    found["line-ends-and-empty"] = page.model_copy(update={"text": "", "html": "a\r\nb\rc\n\n\nd"})
    found["no-thread"] = page.model_copy(update={"thread": None})
    found["subject-fills-a-line"] = page.model_copy(  # moved whole onto the next line
        update={
            "subject": "[P3] Aggregate growth: growth query p95 at 40 s for the investor report"
        }
    )
    found["subject-long-ascii"] = page.model_copy(
        update={"subject": "[P1] " + " ".join(["Aggregate profit: unit-level profit missing"] * 5)}
    )
    found["subject-and-key-non-ascii"] = page.model_copy(
        update={
            "subject": f"[P1] {NON_ASCII} {NON_ASCII} {'Ω' * 60} end",
            "idempotency_key": "inc-1:0:1:José Müller",
        }
    )
    found["key-one-long-word"] = page.model_copy(
        update={
            "idempotency_key": "delay:profit.unit:2026-11-25:analyst@example.com:2026-11-26T18:00:00Z"
        }
    )
    found["subject-with-encoded-word"] = page.model_copy(update={"subject": "=?utf-8?q?x?= 1"})
    found["two-recipients-named"] = page.model_copy(
        update={"to": ["José Ruiz <jose@example.com>", "disha.kapoor@example.com"]}
    )
    found["two-images"] = page.model_copy(
        update={"images": {"pages-chart": _png(300, 120), "other": _png(2, 2)}}
    )
    return found


LABELS = [
    *(f"{kind}{tail}" for kind in KINDS for tail in ("", "-non-ascii", "-long")),
    "action-email",
    "report-delayed",
    "login",
    "weekly-report-chart",
    "weekly-report-non-ascii-key",
    "dot-and-from-lines",
    "long-lines",
    "non-ascii-body-short-lines",
    "mostly-non-ascii-lines",
    "line-ends-and-empty",
    "no-thread",
    "subject-fills-a-line",
    "subject-long-ascii",
    "subject-and-key-non-ascii",
    "key-one-long-word",
    "subject-with-encoded-word",
    "two-recipients-named",
    "two-images",
]


@pytest.fixture(scope="module")
def messages(composer: Composer, rules: Rules) -> dict[str, OutgoingMessage]:
    return _messages(composer, rules)


def test_every_message_is_checked(messages: dict[str, OutgoingMessage]) -> None:
    assert sorted(messages) == sorted(LABELS)
    assert messages["weekly-report-chart"].images  # the real chart, inline
    kinds = {message.kind for message in messages.values()}
    assert set(KINDS) | {"action_email", "report_delayed", "login", "weekly_report"} <= kinds


@pytest.mark.parametrize("sender", SENDERS, ids=["plain-sender", "named-sender"])
@pytest.mark.parametrize("label", LABELS)
def test_the_bytes_are_the_email_the_package_built(
    messages: dict[str, OutgoingMessage], label: str, sender: str
) -> None:
    message = messages[label]
    references, news = reference_forms(message, sender), new_forms(message, sender)
    for form in FORMS:
        assert_well_formed(news[form], form)
        assert_same_email(news[form], references[form], message)
    parts = tree(news["file"])
    body = "multipart/related" if message.images else "text/html"
    assert [p.content_type for p in parts][:3] == ["multipart/alternative", "text/plain", body]


def test_the_comparison_sees_what_it_must(messages: dict[str, OutgoingMessage]) -> None:
    """A dropped HTML part, a changed header, charset or content id: not the same email."""
    message = messages["two-images"]
    raw = message.to_bytes(SENDERS[0], NOW)
    reference = reference_forms(message, SENDERS[0])["file"]
    assert_same_email(raw, reference, message)
    html_part = re.compile(rb"\n--=+\d+==\nContent-Type: text/html;.*?(?=\n--=+\d+==)", re.S)
    assert html_part.search(raw)
    changed = [
        html_part.sub(b"", raw),
        raw.replace(b"X-Alert-Router-Kind: page", b"X-Alert-Router-Kind: pages"),
        raw.replace(b'text/plain; charset="utf-8"', b'text/plain; charset="latin-1"'),
        raw.replace(b"Content-ID: <other>", b"Content-ID: <another>"),
        raw.replace(b"Content-Disposition: inline", b"Content-Disposition: attachment"),
        raw.replace(b"MIME-Version: 1.0\nContent-Disposition", b"Content-Disposition"),
    ]
    for wrong in changed:
        assert wrong != raw
        assert tree(wrong) != tree(reference)


# -- through the backends ---------------------------------------------------------------


def test_each_backend_sends_the_same_email(
    messages: dict[str, OutgoingMessage], tmp_path: Path
) -> None:
    """What the outbox writes, the console prints and an SMTP server receives (dot-stuffed
    and unstuffed on the way) is the reference's email, to the recipients in To."""
    sent = [
        messages[label].model_copy(update={"idempotency_key": label})  # a file each
        for label in ("dot-and-from-lines", "two-images", "page-non-ascii")
    ]
    outbox = OutboxBackend(tmp_path / "out")
    stream = io.StringIO()
    console = ConsoleBackend(stream)
    port = free_port()
    smtp = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port) as inbox:
            for message in sent:
                for backend in (outbox, console, smtp):
                    backend.send(message, SENDERS[1], NOW)
    finally:
        smtp.close()
    printed = [chunk.split("\n", 1)[1][:-1] for chunk in stream.getvalue().split("--- email ")[1:]]
    files = {path.stem: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert len(read_outbox(tmp_path / "out")) == len(sent)
    for index, message in enumerate(sent):
        references = reference_forms(message, SENDERS[1])
        assert_same_email(files[message.file_stem()], references["file"], message)
        assert_same_email(printed[index].encode("ascii"), references["console"], message)
        assert_same_email(inbox.messages[index], references["smtp"], message)
        assert inbox.recipients[index] == [
            address.split("<")[-1].rstrip(">") for address in message.to
        ]


def test_from_and_dot_lines_reach_smtp_as_they_are(messages: dict[str, OutgoingMessage]) -> None:
    """smtplib's send_message wrote a line starting "From " as ">From " (its generator
    mangles by default); the bytes keep it, and '.' lines pass SMTP's dot-stuffing."""
    message = messages["dot-and-from-lines"]
    port = free_port()
    smtp = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port) as inbox:
            smtp.send(message, SENDERS[0], NOW)
    finally:
        smtp.close()
    (raw,) = inbox.messages
    parts = tree(raw)
    text = parts[1].content
    assert isinstance(text, str)
    lines = text.replace("\r\n", "\n").split("\n")
    assert lines[:4] == [".", "..two dots", "From here on", ".From"]
    assert lines[-2:] == [".", ""]
    assert tree(message.to_bytes(SENDERS[0], NOW, "\r\n")) == parts


def test_an_address_that_is_not_ascii_goes_as_smtputf8() -> None:
    """smtplib writes that message itself (UTF-8 headers, SMTPUTF8), as before."""
    message = OutgoingMessage(
        idempotency_key="k:utf8",
        kind="page",
        to=["jösé@exämple.com"],
        subject="Résumé",
        text="hello\n",
        html="<p>hello</p>",
    )
    port = free_port()
    smtp = SmtpBackend("127.0.0.1", port, timeout_s=10)
    try:
        with smtp_server(port, enable_SMTPUTF8=True) as inbox:
            smtp.send(message, SENDERS[0], NOW)
    finally:
        smtp.close()
    assert inbox.recipients == [["jösé@exämple.com"]]
    assert "jösé@exämple.com".encode() in inbox.messages[0]  # not RFC 2047 in an address


# -- header values ------------------------------------------------------------------------


def test_where_the_email_package_lost_a_space_the_bytes_keep_it(
    messages: dict[str, OutgoingMessage],
) -> None:
    """Its folding merges encoded words across a line break and drops the space between
    them, or joins two over-long words: the bytes parse to the value itself."""
    page = messages["page"]
    weekly = messages["weekly-report-non-ascii-key"].idempotency_key
    two_long = f"{'x' * 77} n.( 0 n.( {'y' * 120} {'y' * 120}"
    for key in (weekly, "0 00000¡ 0 00 00 ¡¡ ¡", two_long):
        message = page.model_copy(update={"idempotency_key": key})
        reference = tree(reference_forms(message, SENDERS[0])["file"])
        new = tree(message.to_bytes(SENDERS[0], NOW))
        assert header(reference, "X-Alert-Router-Idempotency-Key").lstrip(" ") != key
        assert header(new, "X-Alert-Router-Idempotency-Key").lstrip(" ") == key
        assert new == as_meant(reference, message)


def test_a_line_break_in_a_header_is_refused_as_before(
    messages: dict[str, OutgoingMessage],
) -> None:
    message = messages["page"].model_copy(update={"subject": "denied\r\nBcc: thief@evil.example"})
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        reference_email(message, SENDERS[0], NOW)
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        message.to_bytes(SENDERS[0], NOW)


_WORDS = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=12),
    st.text(st.sampled_from("abz09:-.@[]()\"'=?é—Ü日🙂"), min_size=1, max_size=90),
    st.sampled_from(["[P1]", "Résumé", "—", "From", ".", "x" * 77, "y" * 130]),
)
_VALUES = st.lists(_WORDS, min_size=1, max_size=12).map(" ".join)
_LINES = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=120),
    st.sampled_from([".", "..x", "From me", " trailing ", "a=b", "x" * 200, "é" * 60, "\t"]),
)
_BODIES = st.lists(_LINES, max_size=16).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=_VALUES, key=_VALUES, text=_BODIES, html=_BODIES, image=st.booleans())
def test_any_message_is_the_same_email(
    subject: str, key: str, text: str, html: str, image: bool
) -> None:
    message = OutgoingMessage(
        idempotency_key=key,
        kind="page",
        to=["kshama.kumar@example.com"],
        subject=subject,
        text=text,
        html=html,
        thread="inc-1",
        images={"chart": _png(3, 2)} if image else {},
    )
    if any(brk in value for value in (subject, key) for brk in "\r\n"):
        # Refused: the email package itself lets a value that ends in one through
        with pytest.raises(ValueError, match="linefeed or carriage return"):
            message.to_bytes(SENDERS[1], NOW)
        return
    try:
        references = reference_forms(message, SENDERS[1])
    except ValueError:  # a value the package refuses: refused both ways
        with pytest.raises(ValueError):
            message.to_bytes(SENDERS[1], NOW)
        return
    news = new_forms(message, SENDERS[1])
    for form in FORMS:
        assert_well_formed(news[form], form)
        assert_same_email(news[form], references[form], message)
