"""Durations written like `30s`, `15m`, `1h`, `2d` in the rules."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


def parse_duration_s(value: object) -> int:
    """Seconds in a duration like `15m`; a bare number is refused: minutes or seconds?"""
    if isinstance(value, str):
        found = _PATTERN.match(value)
        if found:
            return int(found.group(1)) * _UNIT_S[found.group(2)]
    raise ValueError(
        f"bad duration {value!r}: write a whole number followed by s, m, h or d, like '15m'"
    )


def format_duration(seconds: int) -> str:
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_S[unit] == 0:
            return f"{seconds // _UNIT_S[unit]}{unit}"
    return f"{seconds}s"


DurationS = Annotated[int, BeforeValidator(parse_duration_s)]
