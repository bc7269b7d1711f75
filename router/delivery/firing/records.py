"""What a send's outcome puts on the incident's timeline, per kind of send: pure."""

from __future__ import annotations

from router.state.sendonce import Entry, Field, Record, Written


def outcome(incident_id: str, sent: str | None, failed: str, **fields: Field) -> Record:
    """The entry `sent` (None: nothing) or `failed`, with the same fields (and the
    outcome's detail)."""
    said = tuple(fields.items())
    written = Written((Entry(incident_id, sent, said),)) if sent is not None else Written()
    return Record(sent=written, failed=Written((Entry(incident_id, failed, said),)))


def message(
    incident_id: str, to: str, email: str, kind: str, round_no: int | None, step: int | None
) -> Record:
    """An incident's email to `to` at `email`."""
    return outcome(
        incident_id,
        "message",
        "message failed",
        to=to,
        email=email,
        message=kind,
        round=round_no,
        step=step,
    )


def push(incident_id: str, to: str, channel: str, round_no: int, step: int) -> Record:
    """A page's push; `channel` is the contact method, masked."""
    return outcome(
        incident_id, "push", "push failed", to=to, channel=channel, round=round_no, step=step
    )
