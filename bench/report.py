"""docs/benchmarks.md, docs/benchmarks.json and the plots, from one run's results.

The JSON is written first and everything else is rendered from it as read back, so
`python -m bench --render docs/benchmarks.json` makes the same report from the JSON
alone (tests/test_bench.py checks it)."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FOLD_GOAL_EVENTS_PER_S = 20_000
P1_GOAL_P95_MS = 50
TIMER_GOAL_P99_MS = 1000
BURST_GOAL_PAGES_PER_S = 1700
INGEST_GOAL_RATIO = {1: 0.25, 100: 1.5}
MEMORY_GROWTH_LIMIT = 0.05
"""Flat: neither process grows by more than this over the second half of the events."""


@dataclass(frozen=True)
class Goal:
    what: str
    figure: str
    goal: str
    met: bool | None
    """None: nothing to judge (not measured, or a figure reported beside a goal)."""


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


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


# -- the goals --------------------------------------------------------------------------


def _ingest_goal(row: dict[str, Any]) -> Goal:
    per_request, ratio = row["events_per_request"], row["ratio"]
    kind = "single-event" if per_request == 1 else "batched"
    want = INGEST_GOAL_RATIO.get(per_request)
    failed = (row["router_non_2xx"] or 0) + (row.get("router_errors") or 0)
    figure = (
        f"{_fmt(ratio, 2)}x ({_fmt(row['router_events_per_s'])} events/s against "
        f"{_fmt(row['alertmanager_alerts_per_s'])} alerts/s)"
    )
    if failed:
        figure += f", {failed:,} requests failed"
    return Goal(
        f"{kind} ingest, {per_request} a request, {row['bodies']} bodies",
        figure,
        f"≥ {want}x Alertmanager" if want else "—",
        None if ratio is None or want is None else ratio >= want and not failed,
    )


_NUMBERS = {1: "one", 2: "two", 5: "five"}


def _fold_goal(row: dict[str, Any]) -> Goal:
    storm = _NUMBERS.get(row["pipelines"], str(row["pipelines"])) + " pipeline"
    storm = "one pipeline" if row["pipelines"] == 1 else f"all {storm}s"
    workers = _NUMBERS.get(row["workers"], str(row["workers"]))
    processes = f"{workers} worker process" + ("es" if row["workers"] > 1 else "")
    rate = row["events_per_s"]
    figure = f"{_fmt(rate)} events/s ({row['events']:,} events, {row['incidents']} incidents)"
    if row["workers"] != 2:
        return Goal(f"fold, storm over {storm}, {processes}", figure, "(reported)", None)
    return Goal(
        f"fold, storm over {storm}, {processes}",
        figure,
        f"≥ {FOLD_GOAL_EVENTS_PER_S:,} events/s",
        None if rate is None else rate >= FOLD_GOAL_EVENTS_PER_S,
    )


def _spread(said: dict[str, Any]) -> str:
    return f"p50 {_ms(said['p50_ms'])}, p99 {_ms(said['p99_ms'])}, max {_ms(said['max_ms'])}"


def goals(results: dict[str, Any]) -> list[Goal]:
    found = [_ingest_goal(row) for row in results["ingest"]]
    found += [_fold_goal(row) for row in results["fold"]]
    timers = results["timer_lateness"]
    complete = timers["emails"] == timers["timers"] and not timers["duplicates"]
    found.append(
        Goal(
            f"{timers['timers']:,} escalation timers due over {_fmt(timers['over_s'])} s, "
            "email lateness",
            f"p99 {_ms(timers['p99_ms'])} ({_spread(timers)}; {timers['emails']:,} emails)",
            f"p99 < {TIMER_GOAL_P99_MS / 1000:g} s",
            None if timers["p99_ms"] is None else timers["p99_ms"] < TIMER_GOAL_P99_MS and complete,
        )
    )
    p1 = results["p1_during_storm"]
    found.append(
        Goal(
            f"a P1 every 100 ms during a {p1['storm_events']:,}-event storm, POST → page",
            f"p95 {_ms(p1['p95_ms'])} ({_spread(p1)}; {p1['count']} P1s)",
            f"p95 ≤ {P1_GOAL_P95_MS} ms",
            None if p1["p95_ms"] is None else p1["p95_ms"] <= P1_GOAL_P95_MS,
        )
    )
    burst = results["p1_burst"]
    found.append(
        Goal(
            f"{burst['incidents']:,} P1 incidents posted at once, pages/s",
            f"{_fmt(burst['pages_per_s'])} pages/s (last page {_fmt(burst['last_page_s'], 1)} s "
            "after the first POST)",
            f"≥ {BURST_GOAL_PAGES_PER_S:,} pages/s",
            burst["pages_per_s"] >= BURST_GOAL_PAGES_PER_S and not burst["duplicates"],
        )
    )
    mem = results["memory"]
    flat = all(
        mem[f"{name}_mb_after"] <= mem[f"{name}_mb_half"] * (1 + MEMORY_GROWTH_LIMIT)
        for name in ("api", "worker")
    )
    cut_short = mem["events"] < mem.get("events_wanted", 0)  # the scenario's time budget ran out
    found.append(
        Goal(
            f"RSS over {mem['events']:,} events (before → half-way → after)",
            f"api {_fmt(mem['api_mb_before'])} → {_fmt(mem['api_mb_half'])} → "
            f"{_fmt(mem['api_mb_after'])} MB, worker {_fmt(mem['worker_mb_before'])} → "
            f"{_fmt(mem['worker_mb_half'])} → {_fmt(mem['worker_mb_after'])} MB"
            + (f" (stopped short of {mem['events_wanted']:,})" if cut_short else ""),
            f"flat (≤ {MEMORY_GROWTH_LIMIT:.0%} growth over the second half)",
            flat and not cut_short,
        )
    )
    return found


def goals_table(results: dict[str, Any]) -> list[str]:
    lines = ["| what | figure | goal | met? |", "| --- | --- | --- | --- |"]
    for goal in goals(results):
        verdict = "—" if goal.met is None else "met" if goal.met else "**missed**"
        lines.append(f"| {goal.what} | {goal.figure} | {goal.goal} | {verdict} |")
    return lines


# -- the report -------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `python -m bench` on {results['when']}: {results['machine']}.",
    ]
    if not results["full_size"]:
        lines += [
            "",
            "**A run at reduced sizes**: it shows that every scenario works, not whether a "
            "goal is met (the goals are for the sizes of `python -m bench` without size "
            "options).",
        ]
    lines += ["", "## Goals", "", *goals_table(results), "", "## How it was measured", ""]
    sizes = ", ".join(f"{name} {_fmt(value)}" for name, value in results["sizes"].items())
    settings = ", ".join(f"`{name}={value}`" for name, value in results["settings"].items())
    ingest = results["ingest"]
    lines += [
        f"- Sizes: {sizes}.",
        f"- Alertmanager {results['alertmanager_version']}, measured in the same run; load "
        f"by {ingest[0]['tool'] if ingest else '—'}, {results['connections']} connections, "
        "on loopback; each load posts one fixed body.",
        "- Bodies: *bare* is what the bench sent before (the router's event without a "
        "dedup key or link; Alertmanager's alert with three labels). *Realistic* is what "
        "the clients send: Prometheus's alerts with labels, annotations (summary, "
        "description, runbook_url), startsAt, endsAt and generatorURL; an Airflow "
        "on_failure_callback's event with pipeline, type, a dag/task/run dedup key, "
        "summary, a link to the task log, occurred_at, source and a small details dict. "
        "Storms, P1s and timers are realistic events.",
        f"- Settings of every router process: {settings}.",
        "- Figures: a page or an email counts when it reaches the SMTP receiver. Pages/s of "
        "the burst = its incidents ÷ the time from the first POST until the last "
        "incident's page arrived. A timer's lateness = its escalation email's arrival minus "
        "the due instant the router planned (the incident's `deliver_at` plus the step's "
        "`after_s`, from GET /v1/incidents). Fold events/s are counted by the router's "
        "`router_events_total` in /metrics.",
    ]
    lines += [f"- {what}: {how}" for what, how in results["processes"].items()]
    lines += [
        "",
        "## Ingest",
        "",
        "| bodies | events a request | body bytes (router / Alertmanager) | Alertmanager "
        "alerts/s | alert-router events/s | ratio | failed requests (router / Alertmanager) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in ingest:
        router_failed = row["router_non_2xx"] + (row.get("router_errors") or 0)
        am_failed = (
            None
            if row["alertmanager_non_2xx"] is None
            else row["alertmanager_non_2xx"] + (row.get("alertmanager_errors") or 0)
        )
        lines.append(
            f"| {row['bodies']} | {row['events_per_request']} | {_fmt(row['router_body_bytes'])}"
            f" / {_fmt(row['alertmanager_body_bytes'])} | "
            f"{_fmt(row['alertmanager_alerts_per_s'])} | {_fmt(row['router_events_per_s'])} | "
            f"{_fmt(row['ratio'], 2)}x | {_fmt(router_failed)} / {_fmt(am_failed)} |"
        )
    lines += [
        "",
        "## Fold",
        "",
        "| storm over | worker processes | events | incidents | queueing (s) | folding (s) | "
        "events/s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["fold"]:
        lines.append(
            f"| {row['pipelines']} pipeline{'s' if row['pipelines'] > 1 else ''} | "
            f"{row['workers']} | {row['events']:,} | {row['incidents']} | "
            f"{_fmt(row['queueing_s'], 1)} | {_fmt(row['seconds'], 2)} | "
            f"{_fmt(row['events_per_s'])} |"
        )
    p1, burst, timers = results["p1_during_storm"], results["p1_burst"], results["timer_lateness"]
    lines += [
        "",
        "## Latencies",
        "",
        "| what | count | p50 | p95 | p99 | max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for what, said in (
        ("a P1 during the storm: its POST → its page at the receiver", p1),
        ("the burst's pages: the first POST → each page at the receiver", burst),
        ("escalation timers: due → the escalation email at the receiver", timers),
    ):
        lines.append(
            f"| {what} | {_fmt(said['count'])} | {_ms(said['p50_ms'])} | {_ms(said['p95_ms'])} "
            f"| {_ms(said['p99_ms'])} | {_ms(said['max_ms'])} |"
        )
    storm_rate = p1["storm_events"] / p1["storm_folded_s"] if p1["storm_folded_s"] else None
    lines += [
        "",
        f"- The storm the P1s ran in was posted and folded in {_fmt(p1['storm_folded_s'], 1)} s "
        f"({_fmt(storm_rate)} events/s end to end, posting included, with the P1s); "
        f"{p1['duplicates']} P1 paged twice.",
        f"- The burst was posted in {_fmt(burst['posting_s'], 2)} s; its last page arrived "
        f"{_fmt(burst['last_page_s'], 2)} s after the first POST; {burst['duplicates']} "
        f"incident paged twice.{_burst_cpu(burst)}",
        f"- The timers' incidents were posted over {_fmt(timers['posting_s'], 1)} s, each "
        f"escalating {timers['wait_s']} s after its page; {timers['emails']:,} escalation "
        f"emails of {timers['timers']:,}, {timers['duplicates']} sent twice; "
        f"{timers['pages_pending_at_first_due']:,} first pages were still out when the "
        "first escalation fell due (0: the escalations had the deliver lane to themselves).",
        f"- The SMTP receiver (bench.receiver, an asyncio sink beside the router on the same "
        "cores) used "
        f"{_receiver(p1)} during the P1s, {_receiver(burst)} during the burst and "
        f"{_receiver(timers)} during the timers; at {BURST_GOAL_PAGES_PER_S:,} messages/s "
        f"that is {_receiver_cores(burst)} of the two cores.",
        "",
        "## Memory",
        "",
        "| process | before | half-way | after |",
        "| --- | --- | --- | --- |",
    ]
    mem = results["memory"]
    for name in ("api", "worker"):
        lines.append(
            f"| {name} | {_fmt(mem[f'{name}_mb_before'])} MB | {_fmt(mem[f'{name}_mb_half'])} MB "
            f"| {_fmt(mem[f'{name}_mb_after'])} MB |"
        )
    lines += [
        "",
        "![Ingest](bench-ingest.png) ![P1 latency](bench-p1.png) "
        "![Timer lateness](bench-timers.png)",
        "",
    ]
    return "\n".join(lines) + "\n"


def _receiver(said: dict[str, Any]) -> str:
    if said.get("receiver_ms_per_message") is None:
        return "—"
    return (
        f"{said['receiver_cpu_s']:.1f} CPU-s for {said['receiver_messages']:,} messages "
        f"({said['receiver_ms_per_message']:.2f} ms each)"
    )


def _burst_cpu(burst: dict[str, Any]) -> str:
    """The machine's CPU a page (runs before it was measured have none)."""
    cpu_ms = burst.get("machine_cpu_ms_per_page")
    if cpu_ms is None:
        return ""
    return (
        f" A page cost {_fmt(cpu_ms, 2)} ms of the machine's CPU (/proc/stat: the router's "
        "processes, Redis, the receiver and the harness together), so the two cores kept "
        f"busy throughout would page {_fmt(2000 / cpu_ms)} a second."
    )


def _receiver_cores(said: dict[str, Any]) -> str:
    per_message_ms = said.get("receiver_ms_per_message")
    if per_message_ms is None:
        return "—"
    return f"{per_message_ms * BURST_GOAL_PAGES_PER_S / 1000:.2f}"


# -- plots ------------------------------------------------------------------------------


def _curve(axes: Any, values: Sequence[float], label: str) -> None:
    if len(values) > 1:
        step = 100 / (len(values) - 1)
        axes.plot([n * step for n in range(len(values))], sorted(values), label=label)


def plots(results: dict[str, Any], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.8))
    rows = results["ingest"]
    labels = [f"{row['bodies']}\n{row['events_per_request']}/request" for row in rows]
    spots = range(len(labels))
    theirs = [row["alertmanager_alerts_per_s"] or 0 for row in rows]
    ours = [row["router_events_per_s"] for row in rows]
    axes.bar([x - 0.2 for x in spots], theirs, 0.4, label="Alertmanager (alerts/s)")
    axes.bar([x + 0.2 for x in spots], ours, 0.4, label="alert-router (events/s)")
    axes.set_xticks(list(spots), labels)
    axes.set_yscale("log")
    axes.set_ylabel("accepted per second")
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / "bench-ingest.png", dpi=100)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 3.8))
    _curve(axes, results["p1_during_storm"]["latencies_ms"], "a P1 every 100 ms, storm folding")
    _curve(axes, results["p1_burst"]["quantiles_ms"], "the burst's pages, from the first POST")
    axes.axhline(P1_GOAL_P95_MS, color="grey", linestyle=":", label="50 ms")
    axes.set_xlabel("percentile")
    axes.set_ylabel("POST to page arrival (ms)")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / "bench-p1.png", dpi=100)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 3.8))
    _curve(axes, results["timer_lateness"]["quantiles_ms"], "escalation email after due")
    axes.axhline(TIMER_GOAL_P99_MS, color="grey", linestyle=":", label="1 s")
    axes.set_xlabel("percentile")
    axes.set_ylabel("lateness (ms)")
    axes.set_yscale("symlog", linthresh=10)  # lateness is 0 or more; log above 10 ms
    axes.set_ylim(bottom=0)
    axes.legend()
    figure.tight_layout()
    figure.savefig(directory / "bench-timers.png", dpi=100)
    plt.close(figure)


def soak_markdown(soak: dict[str, Any]) -> str:
    """The failover soak's section (tests/soak.py writes docs/soak.json)."""
    lines = [
        "",
        "## Failover soak",
        "",
        f"`python -m tests.soak` on {soak['when']}: {soak['machine']}. The router on three "
        f"test hosts ({soak['hosts']}; the layout of tests/test_hosts.py, "
        "`ROUTER_REDIS_MIN_REPLICAS=1`) took "
        f"{_fmt(soak['events_per_s'])} distinct P1 events/s for {_fmt(soak['minutes'])} "
        f"minutes while the master was lost every {_fmt(soak['every_s'])} s, in turn by "
        "SENTINEL FAILOVER, SIGKILL of its redis-server and its host cut off for 20 s; "
        "each came back as a replica before the next loss.",
        "",
        "| accepted | folded | pages | sent twice | sent again, marked as possible repeats "
        "| lost | requests refused, retried |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| {soak['accepted']:,} | {soak['folded']:,} | {soak['pages']:,} | "
        f"{soak['duplicates']} | {soak.get('marked_repeats', '—')} | {len(soak['lost'])} | "
        f"{soak['refused_requests']} |",
        "",
        "| loss at | how | master | new master after | a 202 again after | old rejoined after |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {loss['at_s']:.0f} s | {loss['kind']} | host {loss['from']} → host {loss['to']} | "
        f"{loss['new_master_after_s']} s | {loss['a_202_again_after_s']} s | "
        f"{loss['old_rejoined_after_s']} s |"
        for loss in soak["losses"]
    ]
    if soak["lost"]:
        batches = sorted({key.rsplit("-", 1)[0] for key in soak["lost"]})
        lines += ["", f"Lost: {len(soak['lost'])} events, of the batches {', '.join(batches)}."]
    return "\n".join(lines) + "\n"


def render(results: dict[str, Any], docs: Path) -> None:
    """benchmarks.md (the figures, with a pointer to the hand-written reading of them in
    docs/performance.md, and the failover soak's if docs/soak.json is there) and the
    plots."""
    docs.mkdir(parents=True, exist_ok=True)
    why = "\nWhat limits each figure, with the profiles: [performance.md](performance.md).\n"
    soak_file = docs / "soak.json"
    soak = soak_markdown(json.loads(soak_file.read_text())) if soak_file.exists() else ""
    (docs / "benchmarks.md").write_text(markdown(results) + soak + why, encoding="utf-8")
    plots(results, docs)


def write(results: dict[str, Any], docs: Path) -> dict[str, Any]:
    """The JSON, then the rest rendered from it as read back; returns what was read."""
    docs.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2) + "\n"
    (docs / "benchmarks.json").write_text(text, encoding="utf-8")
    reloaded: dict[str, Any] = json.loads(text)
    render(reloaded, docs)
    return reloaded
