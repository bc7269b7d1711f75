"""`python -m bench`: run every scenario at the issue's sizes, print the report (the goals
table first), and write docs/benchmarks.md, docs/benchmarks.json and the plots.

    python -m bench --quick --docs /tmp/bench      every scenario in a few minutes
    python -m bench --fold-events 20000 --docs DIR  any size set on its own
    python -m bench --only timers --timers 1000    one scenario, printed as JSON
    python -m bench --render docs/benchmarks.json  the report again, from the JSON alone

A run at other than the full sizes writes only where --docs says: it never replaces the
full run in docs/."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, scenarios
from bench.load import CONNECTIONS
from bench.scenarios import Sizes
from bench.services import SETTINGS, alertmanager, alertmanager_version

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _ingest(work: Path, sizes: Sizes) -> Any:
    with alertmanager(work / "alertmanager") as am_url:
        return scenarios.ingest(work, sizes, am_url)


SCENARIOS: dict[str, Callable[[Path, Sizes], Any]] = {
    "ingest": _ingest,
    "fold": scenarios.folds,
    "p1": scenarios.p1_during_storm,
    "burst": scenarios.p1_burst,
    "timers": scenarios.timer_lateness,
    "memory": scenarios.memory,
}
KEYS = {
    "ingest": "ingest",
    "fold": "fold",
    "p1": "p1_during_storm",
    "burst": "p1_burst",
    "timers": "timer_lateness",
    "memory": "memory",
}


@contextmanager
def _work(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept
        return
    with tempfile.TemporaryDirectory(prefix="ar-bench-") as scratch:
        yield Path(scratch)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=" ".join(__doc__.split("\n\n")[0].split()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--quick", action="store_true", help="small sizes: each scenario works")
    preset.add_argument("--smoke", action="store_true", help="tiny sizes (the test suite's)")
    parser.add_argument("--docs", type=Path, help="where results go [docs/ at full sizes]")
    parser.add_argument("--only", choices=sorted(SCENARIOS), help="one scenario, as JSON")
    parser.add_argument("--render", type=Path, metavar="JSON", help="re-render a run's report")
    parser.add_argument(
        "--work", type=Path, help="keep the processes' logs and data here [a temporary folder]"
    )
    full, quick = Sizes.full(), Sizes.quick()
    for field in _numbers():
        kind = float if field.type in (float, "float") else int
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=kind,
            metavar="N",
            help=f"[{getattr(full, field.name):,}; --quick {getattr(quick, field.name):,}]",
        )
    return parser


def _numbers() -> list[dataclasses.Field[object]]:
    """The sizes set by an option each (not the fold's worker counts)."""
    return [f for f in dataclasses.fields(Sizes) if f.type in (int, float, "int", "float")]


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = Sizes.smoke() if args.smoke else Sizes.quick() if args.quick else Sizes.full()
    chosen = {
        field.name: getattr(args, field.name)
        for field in _numbers()
        if getattr(args, field.name) is not None
    }
    return dataclasses.replace(sizes, **chosen)


def main() -> None:
    args = _parser().parse_args()
    if args.render:
        rendered = json.loads(args.render.read_text(encoding="utf-8"))
        report.render(rendered, args.docs or args.render.parent)
        print(report.markdown(rendered))
        return
    sizes = _sizes(args)
    if args.only:
        with _work(args.work) as work:
            print(json.dumps(SCENARIOS[args.only](work, sizes), indent=1))
        return
    full_size = sizes == Sizes.full()
    docs = args.docs or (DOCS if full_size else None)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": report.machine(),
        "full_size": full_size,
        "sizes": dataclasses.asdict(sizes),
        "alertmanager_version": alertmanager_version(),
        "connections": CONNECTIONS,
        "settings": SETTINGS,
        "processes": scenarios.PROCESSES,
    }
    with _work(args.work) as work:
        for name, run in SCENARIOS.items():
            print(f"bench: {name}", file=sys.stderr, end="", flush=True)
            started_s = time.monotonic()
            results[KEYS[name]] = run(work, sizes)
            print(f" ({time.monotonic() - started_s:.0f} s)", file=sys.stderr, flush=True)
    if docs is not None:
        results = report.write(results, docs)
    print(report.markdown(results))


if __name__ == "__main__":
    main()
