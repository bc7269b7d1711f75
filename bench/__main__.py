"""`python -m bench [--smoke] [--docs DIR]`: run every scenario, print the table, write
DIR/benchmarks.md, DIR/benchmarks.json and the plots (default docs/).

`python -m bench --only ingest|fold|p1|timers|memory` runs one scenario and prints its
figures as JSON, writing nothing: for trying a change quickly."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, scenarios
from bench.services import alertmanager


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the harness works")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="where results go")
    parser.add_argument("--only", choices=sorted(ONLY), help="one scenario, printed as JSON")
    args = parser.parse_args()
    sizes = scenarios.Sizes.smoke() if args.smoke else scenarios.Sizes.full()
    if args.only:
        with tempfile.TemporaryDirectory(prefix="ar-bench-") as scratch:
            print(json.dumps(ONLY[args.only](Path(scratch), sizes), indent=1))
        return
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as scratch:
        work = Path(scratch)
        with alertmanager(work) as am_url:
            print("bench: ingest", file=sys.stderr, flush=True)
            ingest = scenarios.ingest(work, sizes, am_url)
        results = {
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": report.machine(),
            "sizes": dataclasses.asdict(sizes),
            "alertmanager_version": _alertmanager_version(),
            "ingest": ingest,
        }
        print("bench: fold", file=sys.stderr, flush=True)
        results["fold"] = [scenarios.fold(work, sizes, workers) for workers in (1, 2)]
        print("bench: P1 during a storm", file=sys.stderr, flush=True)
        results["p1_during_storm"] = scenarios.p1_during_storm(work, sizes)
        print("bench: timer lateness", file=sys.stderr, flush=True)
        results["timer_lateness"] = scenarios.timer_lateness(work, sizes)
        print("bench: memory", file=sys.stderr, flush=True)
        results["memory"] = scenarios.memory(work, sizes)
    report.write(results, args.docs)
    print(report.markdown(results))


def _ingest(work: Path, sizes: scenarios.Sizes) -> Any:
    with alertmanager(work) as am_url:
        return scenarios.ingest(work, sizes, am_url)


ONLY: dict[str, Callable[[Path, scenarios.Sizes], Any]] = {
    "ingest": _ingest,
    "fold": lambda work, sizes: [scenarios.fold(work, sizes, workers) for workers in (1, 2)],
    "p1": scenarios.p1_during_storm,
    "timers": scenarios.timer_lateness,
    "memory": scenarios.memory,
}


def _alertmanager_version() -> str:
    try:
        done = subprocess.run(
            ["prometheus-alertmanager", "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        return "not installed"
    return (done.stdout + done.stderr).split("\n", 1)[0].replace("alertmanager, ", "")


if __name__ == "__main__":
    main()
