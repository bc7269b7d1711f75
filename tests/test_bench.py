"""The benchmark harness at tiny sizes, so it cannot rot; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import RULES_DIR


def test_bench_smoke_run_writes_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--docs", str(tmp_path)],
        cwd=RULES_DIR.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text(encoding="utf-8"))
    assert {row["events_per_request"] for row in results["ingest"]} == {1, 100}
    assert all(row["router_events_per_s"] > 0 for row in results["ingest"])
    assert [row["workers"] for row in results["fold"]] == [1, 2]
    assert all(row["incidents"] == 100 for row in results["fold"])
    assert results["p1_during_storm"]["p1_sent"] > 0
    assert results["timer_lateness"]["timers"] == 50
    assert results["memory"]["events"] == 2000
    table = (tmp_path / "benchmarks.md").read_text(encoding="utf-8")
    assert "| single-event ingest" in table and "| batched ingest" in table
    assert "| single-event ingest" in done.stdout  # the table is printed too
    for plot in ("bench-ingest.png", "bench-p1.png"):
        assert (tmp_path / plot).stat().st_size > 1000
