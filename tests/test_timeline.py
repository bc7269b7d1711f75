"""Timeline entries read back as typed lines (router.core.timeline): pure."""

from __future__ import annotations

import pytest

from router.core.timeline import Line, notes, read_lines

AT = "2026-12-01T19:00:00Z"

# (an entry as stored) -> its line
# fmt: off
CASES: list[tuple[bytes, Line]] = [
    (b'{"at":"2026-12-01T19:00:00Z","email":"k@example.com","kind":"message","message":"page",'
     b'"round":0,"step":0,"to":"Kshama Kumar","detail":""}',
     Line("message", AT, to="Kshama Kumar", message="page")),
    (b'{"at":"2026-12-01T19:00:00Z","kind":"note","by":"Disha Kapoor","text":"on it",'
     b'"estimate":"2026-12-01T21:00:00Z"}',
     Line("note", AT, by="Disha Kapoor", text="on it", estimate="2026-12-01T21:00:00Z")),
    (b'{"at":"2026-12-01T19:00:00Z","kind":"note","by":"Disha Kapoor","text":"on it","estimate":null}',
     Line("note", AT, by="Disha Kapoor", text="on it")),
    # the fold's own kinds, with fields no reader decides by
    (b'{"action":"trigger","at":"2026-12-01T19:00:00Z","event_id":"e1","kind":"event",'
     b'"source":null,"summary":"s","type":"job_failed"}', Line("event", AT)),
    # a field of a line holding something else: its kind and time are still read
    (b'{"at":"2026-12-01T19:00:00Z","kind":"message","to":["a","b"]}', Line("message", AT)),
]
# fmt: on


@pytest.mark.parametrize(("stored", "line"), CASES)
def test_a_stored_entry_reads_as_its_line(stored: bytes, line: Line) -> None:
    assert read_lines([stored]) == [line]
    assert read_lines([stored.decode()]) == [line]


def test_the_notes_are_the_note_lines_in_order() -> None:
    lines = read_lines(stored for stored, _ in CASES)
    assert [line.text for line in notes(lines)] == ["on it", "on it"]
    assert [line.kind for line in lines] == ["message", "note", "note", "event", "message"]
