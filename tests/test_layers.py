"""The layering holds: the core reads no clock, and lint-imports keeps every module in
one layer (docs/architecture.md)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROUTER = Path(__file__).resolve().parents[1] / "router"
CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}


def clock_reads(source: str) -> list[str]:
    """`datetime.now()`, `time.monotonic()` and the like, and `from time import ...`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, node.func.attr) in CLOCK_READS:
                found.append(f"line {node.lineno}: {name}.{node.func.attr}()")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found.append(f"line {node.lineno}: from time import ...")
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from datetime import datetime\nx = datetime.now()", ["line 2: datetime.now()"]),
        ("import datetime\nx = datetime.datetime.now(tz)", ["line 2: datetime.now()"]),
        ("import time\nx = time.monotonic()", ["line 2: time.monotonic()"]),
        ("from time import time", ["line 1: from time import ..."]),
        ("def f(now):\n    return now.date()", []),
    ],
)
def test_clock_reads_are_found(source: str, expected: list[str]) -> None:
    assert clock_reads(source) == expected


def test_the_core_reads_no_clock() -> None:
    modules = sorted((ROUTER / "core").rglob("*.py"))
    assert len(modules) > 20
    reads = {
        str(path.relative_to(ROUTER)): clock_reads(path.read_text())
        for path in modules
        if clock_reads(path.read_text())
    }
    assert reads == {}


def test_every_module_is_in_a_layer_and_the_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint is not None
    done = subprocess.run([lint], capture_output=True, text=True, cwd=ROUTER.parent)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "2 kept, 0 broken" in done.stdout
