from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.core.links import LinkClaim, LinkInvalid, sign, verify

NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
CLAIM = LinkClaim(
    incident="abc123",
    recipient="Kshama Kumar",
    action="acknowledge",
    expires_ts=int(NOW.timestamp()) + 3600,
)
SECRET = b"router-secret"


def test_a_signed_link_verifies() -> None:
    assert verify(sign(CLAIM, SECRET), SECRET, NOW) == CLAIM


def _flip(token: str, at: int) -> str:
    swapped = "A" if token[at] != "A" else "B"
    return token[:at] + swapped + token[at + 1 :]


@pytest.mark.parametrize(
    "token",
    [
        _flip(sign(CLAIM, SECRET), 5),  # payload changed
        _flip(sign(CLAIM, SECRET), -3),  # signature changed
        sign(CLAIM, SECRET).split(".")[0],  # signature cut off
        sign(CLAIM.model_copy(update={"incident": "other"}), b"guessed-secret"),
        sign(CLAIM, SECRET)[:-10],
        "",
        "not.a.token",
    ],
)
def test_tampered_links_are_refused(token: str) -> None:
    with pytest.raises(LinkInvalid) as caught:
        verify(token, SECRET, NOW)
    assert caught.value.reason == "tampered"


def test_expired_links_are_refused() -> None:
    token = sign(CLAIM, SECRET)
    later = datetime.fromtimestamp(CLAIM.expires_ts, UTC)
    with pytest.raises(LinkInvalid) as caught:
        verify(token, SECRET, later)
    assert caught.value.reason == "expired"
