"""docs/benchmarks.md, docs/benchmarks.json and the plots, from one run's results."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

GOALS = {
    "batched ingest": "≥ 1.5x Alertmanager",
    "single-event ingest": "≥ 0.25x Alertmanager",
    "fold, two workers": "≥ 20,000 events/s",
    "P1 during the storm": "p99 ≤ 1 s",
    "timer lateness": "p99 < 1 s",
    "memory": "flat",
}


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return (
        f"{os.cpu_count()} cores ({model}), {mem_kb / 1024 / 1024:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `python -m bench` on {results['when']}: {results['machine']}.",
        f"Sizes: `{results['sizes']}`. Ratios are against a real Alertmanager "
        f"({results['alertmanager_version']}) measured in the same run; load by "
        f"{results['ingest'][0]['tool']}, 16 connections, on loopback. The API runs as "
        "`router api --processes 2` (both cores, as Alertmanager's Go runtime uses them); "
        "the P1 scenario runs workers as docker-compose.yml does: `--lane fold` (two "
        "processes), `--lane urgent` (one) and `--lane deliver` (two).",
        "",
        "| what | Alertmanager | alert-router | ratio / figure | goal |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in results["ingest"]:
        name = "single-event ingest" if row["events_per_request"] == 1 else "batched ingest"
        lines.append(
            f"| {name} ({row['events_per_request']} per request), events/s | "
            f"{_fmt(row['alertmanager_events_per_s'])} | {_fmt(row['router_events_per_s'])} | "
            f"{_fmt(row['ratio'], 2)}x | {GOALS[name]} |"
        )
    for row in results["fold"]:
        label = "one worker process" if row["workers"] == 1 else "two worker processes"
        goal = GOALS["fold, two workers"] if row["workers"] == 2 else ""
        lines.append(
            f"| fold {row['events']:,} events on 100 keys, {label}, events/s | — | "
            f"{_fmt(row['events_per_s'])} | {row['incidents']} incidents, "
            f"{_fmt(row['seconds'], 1)} s | {goal} |"
        )
    p1 = results["p1_during_storm"]
    lines.append(
        f"| P1 posted every 100 ms during the storm, POST → page | — | "
        f"p50 {_fmt(p1['p50_ms'])} ms | p99 {_fmt(p1['p99_ms'])} ms ({p1['p1_sent']} P1s) | "
        f"{GOALS['P1 during the storm']} |"
    )
    timers = results["timer_lateness"]
    lines.append(
        f"| {timers['timers']:,} timers due over {_fmt(timers['over_s'])} s, lateness | — | "
        f"p50 {_fmt(timers['p50_ms'])} ms | p99 {_fmt(timers['p99_ms'])} ms | "
        f"{GOALS['timer lateness']} |"
    )
    mem = results["memory"]
    lines.append(
        f"| RSS before → half-way → after {mem['events']:,} events | — | api "
        f"{_fmt(mem['api_mb_before'])} → {_fmt(mem['api_mb_half'])} → "
        f"{_fmt(mem['api_mb_after'])} MB | worker {_fmt(mem['worker_mb_before'])} → "
        f"{_fmt(mem['worker_mb_half'])} → {_fmt(mem['worker_mb_after'])} MB | "
        f"{GOALS['memory']} |"
    )
    lines += ["", "![Ingest](bench-ingest.png) ![P1 latency](bench-p1.png)", ""]
    return "\n".join(lines) + "\n"


def plots(results: dict[str, Any], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5))
    labels = [f"{row['events_per_request']}/request" for row in results["ingest"]]
    ours = [row["router_events_per_s"] for row in results["ingest"]]
    theirs = [row["alertmanager_events_per_s"] or 0 for row in results["ingest"]]
    spots = range(len(labels))
    axes.bar([x - 0.2 for x in spots], theirs, 0.4, label="Alertmanager")
    axes.bar([x + 0.2 for x in spots], ours, 0.4, label="alert-router")
    axes.set_xticks(list(spots), labels)
    axes.set_ylabel("events accepted per second")
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / "bench-ingest.png", dpi=100)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(6, 3.5))
    latencies = results["p1_during_storm"]["latencies_ms"]
    axes.plot(range(len(latencies)), sorted(latencies))
    axes.set_xlabel("P1s, sorted")
    axes.set_ylabel("POST to page arrival (ms)")
    axes.set_title("A P1 every 100 ms during the storm")
    figure.tight_layout()
    figure.savefig(directory / "bench-p1.png", dpi=100)
    plt.close(figure)


def write(results: dict[str, Any], docs: Path) -> None:
    docs.mkdir(parents=True, exist_ok=True)
    slim = {**results, "p1_during_storm": {
        k: v for k, v in results["p1_during_storm"].items() if k != "latencies_ms"}}  # fmt: skip
    (docs / "benchmarks.json").write_text(json.dumps(slim, indent=2) + "\n", encoding="utf-8")
    analysis = Path(__file__).with_name("analysis.md")  # the hand-written reading of a run
    extra = analysis.read_text(encoding="utf-8") if analysis.exists() else ""
    (docs / "benchmarks.md").write_text(markdown(results) + extra, encoding="utf-8")
    plots(results, docs)
