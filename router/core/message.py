"""A message ready to send, and its RFC 5322 form (multipart: plain text and HTML).

`to_bytes` writes that form directly: the `email` package took most of a page's CPU
(building an EmailMessage, then serialising it). What it writes parses to the same
email as `to_email` (tests/test_email_bytes.py): the same headers, values, MIME tree,
charset and transfer encodings, each part's same content. Header values the writer
has no need to handle itself (addresses, anything unusual) are folded by the email
package, once per distinct value.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import hashlib
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import quoprimime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from router.core.times import require_aware

Linesep = Literal["\n", "\r\n"]
"""LF for files and the console (as `EmailMessage.as_bytes`), CRLF for SMTP."""


def _message_id(seed: str) -> str:
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@alert-router>"


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    """(incident, round, step, recipient) or (notice, recipient): never sent twice."""
    kind: str
    to: list[str]
    subject: str
    text: str
    html: str
    thread: str | None = None
    """Messages about one incident share a thread: the same In-Reply-To and References."""
    images: dict[str, str] = Field(default_factory=dict)
    """Inline PNG images of the HTML part: content id -> base64 (`<img src="cid:ID">`)."""
    reply_id: str | None = None
    """An id in References besides the thread's: a reply's References carry it back, and
    an incident email to an engineer holds there the token a reply acts by
    (router.core.replies). References, not the Message-ID: a provider may replace that."""
    possible_repeat: bool = False
    """An attempt before this one may have sent it (router.state.sendonce): the
    `X-Alert-Router-Possible-Repeat` header says so."""

    def file_stem(self) -> str:
        return hashlib.sha256(self.idempotency_key.encode()).hexdigest()[:32]

    def thread_headers(self) -> dict[str, str]:
        if not self.thread:
            return {}
        root = _message_id(f"thread:{self.thread}")
        return {"In-Reply-To": root, "References": self._references(root)}

    def _references(self, root: str) -> str:
        return root if self.reply_id is None else f"{root} {self.reply_id}"

    def envelope(self, sender: str) -> tuple[str, list[str]]:
        """(MAIL FROM, RCPT TO): what smtplib's send_message took from From and To."""
        return envelope_of(sender, self.to)

    def to_bytes(
        self, sender: str, sent_at: datetime, linesep: Linesep = "\n", seven_bit: bool = False
    ) -> bytes:
        """The message's RFC 5322 form. `seven_bit`: no 8bit part (what `as_string` gave
        the console): such a part goes as base64."""
        form = _FORMS[linesep]
        nl = form.nl
        head = [
            _folded("From", sender, linesep),
            _folded("To", ", ".join(self.to), linesep),
            _unstructured("Subject", self.subject, linesep),
            b"Date: " + format_datetime(require_aware(sent_at)).encode() + nl,
            b"Message-ID: " + _message_id(self.idempotency_key).encode() + nl,
        ]
        if self.thread:
            root = _message_id(f"thread:{self.thread}")
            references = self._references(root).encode()
            head += (b"In-Reply-To: ", root.encode(), nl, b"References: ", references, nl)
        head += (
            _folded("X-Alert-Router-Kind", self.kind, linesep),
            _unstructured("X-Alert-Router-Idempotency-Key", self.idempotency_key, linesep),
        )
        if self.possible_repeat:
            head.append(b"X-Alert-Router-Possible-Repeat: yes" + nl)
        text_cte, text = _text_body(self.text, nl, seven_bit)
        html_cte, html = _text_body(self.html, nl, seven_bit)
        if not self.images:
            boundary = _boundary((text, html))
            return b"".join(
                (
                    *head,
                    form.alternative,
                    boundary,
                    form.after_boundary,
                    boundary,
                    form.text_part,
                    text_cte,
                    form.part_body,
                    text,
                    form.delimiter,
                    boundary,
                    form.html_part,
                    html_cte,
                    form.html_mime_version,
                    html,
                    form.delimiter,
                    boundary,
                    form.close,
                )
            )
        # As add_related made it: the HTML part becomes multipart/related, HTML first.
        images = [
            (
                _unstructured("Content-ID", f"<{content_id}>", linesep),
                _base64_lines(base64.b64decode(data), nl),
            )
            for content_id, data in self.images.items()
        ]
        related = _boundary((html, *(png for _, png in images)))
        outer = _boundary((text, html, related, *(png for _, png in images)))
        chunks = [
            *head,
            form.alternative,
            outer,
            form.after_boundary,
            outer,
            form.text_part,
            text_cte,
            form.part_body,
            text,
            form.delimiter,
            outer,
            form.related,
            related,
            form.after_boundary,
            related,
            form.html_part,
            html_cte,
            form.part_body,
            html,
        ]
        for content_id, png in images:
            chunks += (form.delimiter, related, form.image_part, content_id, form.image_tail, png)
        chunks += (form.delimiter, related, form.close, form.delimiter, outer, form.close)
        return b"".join(chunks)

    def to_email(self, sender: str, sent_at: datetime) -> EmailMessage:
        """The same message built by the email package: for SMTP to an address that is
        not ASCII (SMTPUTF8: smtplib rewrites the headers in UTF-8) and for callers that
        want an EmailMessage. `to_bytes` is the fast form of this."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        message["Date"] = format_datetime(require_aware(sent_at))
        message["Message-ID"] = _message_id(self.idempotency_key)
        for name, value in self.thread_headers().items():
            message[name] = value
        message["X-Alert-Router-Kind"] = self.kind
        message["X-Alert-Router-Idempotency-Key"] = self.idempotency_key
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        html_part = message.get_body(("html",))
        for content_id, data in self.images.items():
            assert html_part is not None
            html_part.add_related(
                base64.b64decode(data), maintype="image", subtype="png", cid=f"<{content_id}>"
            )
        return message


# -- the writer ------------------------------------------------------------------------

_POLICIES = {"\n": email.policy.default, "\r\n": email.policy.default.clone(linesep="\r\n")}
_MAX_LINE = 78
"""email.policy.default's max_line_length: where the email package folds headers and
stops sending text as 7bit or 8bit."""
_LONGEST_WORD = 900
"""A longer word than this could not stay within 998 octets on a header line."""
_SNIFFED_LINES = 10
"""The email package picks quoted-printable or base64 from a text's first 10 lines."""
_EW_PREFIX, _EW_SUFFIX = "=?utf-8?b?", "?="
_EW_MOST_OCTETS = 45
"""An encoded word is at most 75 characters (RFC 2047): 12 of them and 60 of base64."""
# What the email package's quoted-printable leaves as it is, and line ends
_QP_LITERAL = bytes(range(32, 127)).replace(b"=", b"") + b"\t\n"
_QP_LINES: dict[bytes, dict[bytes, bytes]] = {b"\n": {}, b"\r\n": {}}
_QP_LINES_MOST = 4096
"""Encoded lines kept per line separator (a few hundred make the templates)."""
# Values the fast path leaves to the email package: control characters, line breaks
# (it refuses them), lone surrogates, text that looks like an encoded word already.
_UNUSUAL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]|=\\?")


@dataclass(frozen=True)
class _Form:
    """The bytes that are the same in every message, for one line separator, in the
    order and form the email package writes them."""

    nl: bytes
    alternative: bytes
    after_boundary: bytes
    text_part: bytes
    part_body: bytes
    delimiter: bytes
    html_part: bytes
    html_mime_version: bytes
    close: bytes
    related: bytes
    image_part: bytes
    image_tail: bytes

    @classmethod
    def of(cls, nl: bytes) -> _Form:
        cte = b"Content-Transfer-Encoding: "
        return cls(
            nl=nl,
            alternative=b"MIME-Version: 1.0"
            + nl
            + b"Content-Type: multipart/alternative;"
            + nl
            + b' boundary="',
            after_boundary=b'"' + nl + nl + b"--",
            text_part=nl + b'Content-Type: text/plain; charset="utf-8"' + nl + cte,
            part_body=nl + nl,
            delimiter=nl + b"--",
            html_part=nl + b'Content-Type: text/html; charset="utf-8"' + nl + cte,
            html_mime_version=nl + b"MIME-Version: 1.0" + nl + nl,
            close=b"--" + nl,
            related=nl
            + b"MIME-Version: 1.0"
            + nl
            + b"Content-Type: multipart/related;"
            + nl
            + b' boundary="',
            image_part=nl + b"Content-Type: image/png" + nl + cte + b"base64" + nl,
            image_tail=b"MIME-Version: 1.0" + nl + b"Content-Disposition: inline" + nl + nl,
        )


_FORMS = {"\n": _Form.of(b"\n"), "\r\n": _Form.of(b"\r\n")}


@lru_cache(maxsize=4096)
def _folded(name: str, value: str, linesep: Linesep) -> bytes:
    """`name: value` as the email package folds it (addresses are parsed and written
    again): once per distinct value, as senders and recipients repeat."""
    _no_line_break(value)
    policy = _POLICIES[linesep]
    name, header = policy.header_store_parse(name, value)
    return policy.fold_binary(name, header)


def envelope_of(sender: str, to: Sequence[str]) -> tuple[str, list[str]]:
    """(MAIL FROM, RCPT TO) of a message from `sender` to `to`, before it is written."""
    return _addresses("From", sender)[0], list(_addresses("To", ", ".join(to)))


@lru_cache(maxsize=4096)
def _addresses(name: str, value: str) -> tuple[str, ...]:
    _, header = email.policy.default.header_store_parse(name, value)
    return tuple(address for _, address in email.utils.getaddresses([str(header)]))


def _no_line_break(value: str) -> None:
    """Refused in any header value: the email package refuses one inside a value, but
    lets a value that ends in one (or is one) through, as a bare CR in the header."""
    if "\r" in value or "\n" in value:
        raise ValueError("Header values may not contain linefeed or carriage return characters")


def _unstructured(name: str, value: str, linesep: Linesep) -> bytes:
    """`name: value` folded at 78 columns, runs of non-ASCII words as RFC 2047 encoded
    words: it parses to what the email package's own folding of `value` parses to."""
    _no_line_break(value)
    words = value.split(" ")
    if (
        not value
        or _UNUSUAL.search(value)
        or " ".join(value.split()) != value  # other spaces, leading or doubled ones
        or max(map(len, words)) > _LONGEST_WORD
    ):
        return _folded(name, value, linesep)
    if value.isascii():
        if len(name) + 2 + len(value) <= _MAX_LINE:
            return f"{name}: {value}{linesep}".encode()
        # As the email package: an ASCII value that fits on a line of its own goes on the
        # next one, whole (it then parses with a leading space).
        if 1 + len(value) <= _MAX_LINE:
            return f"{name}:{linesep} {value}{linesep}".encode()
    lines: list[str] = []
    line = f"{name}:"
    at, count = 0, len(words)
    while at < count:
        word = words[at]
        if word.isascii():
            at += 1
            # As the email package: a word that fits on a line of its own starts one (the
            # value's first word too, which then parses with a leading space).
            if len(line) + 1 + len(word) > _MAX_LINE and 1 + len(word) <= _MAX_LINE:
                lines.append(line)
                line = ""
            line += " " + word
            continue
        end = at + 1
        while end < count and not words[end].isascii():
            end += 1
        run = " ".join(words[at:end]).encode()
        at = end
        while run:
            room_octets = (_MAX_LINE - len(line) - 1 - len(_EW_PREFIX) - len(_EW_SUFFIX)) // 4 * 3
            cut = min(len(run), _EW_MOST_OCTETS, room_octets)
            while 0 < cut < len(run) and run[cut] & 0xC0 == 0x80:  # not inside a character
                cut -= 1
            if cut <= 0:
                lines.append(line)
                line = ""
                continue
            encoded = binascii.b2a_base64(run[:cut], newline=False).decode()
            line += f" {_EW_PREFIX}{encoded}{_EW_SUFFIX}"
            run = run[cut:]
    lines.append(line)
    return (linesep.join(lines) + linesep).encode()


def _text_body(text: str, nl: bytes, seven_bit: bool) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body) with the email package's choice (set_content):
    7bit or 8bit if every line fits in 78 octets, else quoted-printable or base64,
    whichever is shorter for the first lines. Line ends become `nl` where it made them so;
    a base64 body holds LF line ends, as there."""
    lines = text.encode().splitlines()
    if max(map(len, lines), default=0) <= _MAX_LINE:
        body = nl.join(lines) + nl
        if body.isascii():
            return b"7bit", body
        if not seven_bit:
            return b"8bit", body
        return b"base64", _base64_lines(b"\n".join(lines) + b"\n", nl)
    sniffed = b"\n".join(lines[:_SNIFFED_LINES]) + b"\n"
    if _sniffs_as_base64(sniffed):
        return b"base64", _base64_lines(b"\n".join(lines) + b"\n", nl)
    return b"quoted-printable", _quoted_printable(lines, nl)


def _sniffs_as_base64(sniffed: bytes) -> bool:
    """The email package's test: is quoted-printable longer than base64 for these lines?
    Its encoder is slow Python, so it runs only if the bounds on its length do not say:
    an escaped octet takes 3 characters, a soft break 2 more, at most every 75."""
    base64_chars = (len(sniffed) + 2) // 3 * 4 + 1
    qp_least = len(sniffed) + 2 * len(sniffed.translate(None, _QP_LITERAL))
    if qp_least > base64_chars:
        return True
    if qp_least + 2 * (qp_least // 75) + 6 * sniffed.count(b"\n") <= base64_chars:
        return False
    qp = quoprimime.body_encode(sniffed.decode("latin-1"), _MAX_LINE)
    return len(qp) > base64_chars


def _quoted_printable(lines: list[bytes], nl: bytes) -> bytes:
    """binascii's encoder (the same octets decoded as the email package's, faster), a
    line at a time: quoted-printable is line by line, and most lines of a message are
    its template's, so each is encoded once."""
    cache = _QP_LINES[nl]
    if len(cache) >= _QP_LINES_MOST:
        cache.clear()
    known = cache.get
    encoded = [known(line) or _qp_line(line, nl, cache) for line in lines]
    return nl.join(encoded) + nl


def _qp_line(line: bytes, nl: bytes, cache: dict[bytes, bytes]) -> bytes:
    done = binascii.b2a_qp(line)
    if nl != b"\n":
        done = done.replace(b"=\n", b"=" + nl)  # its soft breaks, if it is long
    cache[line] = done
    return done


def _base64_lines(data: bytes, nl: bytes) -> bytes:
    """Base64 in lines of 76 characters, as the email package writes it."""
    encoded = base64.encodebytes(data)
    return encoded if nl == b"\n" else encoded.replace(b"\n", nl)


def _boundary(bodies: tuple[bytes, ...]) -> bytes:
    """A boundary in the email package's form that no part contains."""
    while True:
        boundary = b"===============%019d==" % random.randrange(sys.maxsize)
        if not any(boundary in body for body in bodies):
            return boundary
