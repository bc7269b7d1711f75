"""An incident's timeline as the code that decides by it reads it: typed lines.

Every entry is stored as one JSON object with its `kind` and `at` (router.state.store;
the fold's own kinds are router.core.fold's structs, a send's outcome
router.delivery.firing.records). The resolved notice, the weekly report and a note's
estimate read only a few fields; a `Line` holds those, and the API shows the entries
as stored, every field included."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec


class Line(msgspec.Struct, frozen=True):
    kind: str
    at: str
    to: str | None = None
    """message: the person emailed (by name)."""
    message: str | None = None
    """message: the kind of email (page, escalation, resolved…)."""
    by: str | None = None
    """note: who wrote it."""
    text: str | None = None
    estimate: str | None = None
    """note: when its writer expects the data, in UTC (RFC 3339)."""


class _Kind(msgspec.Struct, frozen=True):
    kind: str
    at: str


_LINE = msgspec.json.Decoder(Line)
_KIND = msgspec.json.Decoder(_Kind)


def read_lines(stored: Iterable[bytes | str]) -> list[Line]:
    """The lines of stored entries, oldest first. An entry whose fields of a `Line` hold
    something else (none is written so) keeps its kind and time only."""
    lines = []
    for entry in stored:
        try:
            lines.append(_LINE.decode(entry))
        except msgspec.ValidationError:
            kind = _KIND.decode(entry)
            lines.append(Line(kind.kind, kind.at))
    return lines


def notes(lines: Iterable[Line]) -> list[Line]:
    return [line for line in lines if line.kind == "note"]
