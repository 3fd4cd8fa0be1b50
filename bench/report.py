"""The printed table, the jobkit/peer ratios and the issue's targets, from the drivers' JSON."""

from __future__ import annotations

import statistics
from typing import Any

from bench.systems import NAMES, PEERS

SHORT = {
    "celery": "celery",
    "celery-dcr": "dcr",
    "celery-dcr-reuse": "dcr-reuse",
    "jobkit": "jobkit",
}

# label, path in a system's result, True when higher is better
ROWS: list[tuple[str, tuple[str, ...], bool]] = [
    ("(a) enqueue, 1 job per transaction  jobs/s", ("enqueue", "jobs_per_s"), True),
    ("(b) bulk enqueue                    jobs/s", ("bulk", "jobs_per_s"), True),
    ("(c) drain, from worker start        jobs/s", ("drain", "jobs_per_s"), True),
    ("(c) drain, steady after 1st done    jobs/s", ("drain", "steady_jobs_per_s"), True),
    ("(c) worker start -> 1st done             s", ("drain", "first_done_after_start_s"), False),
    ("(d) enqueue -> start  p50               ms", ("latency", "to_start_ms", "p50"), False),
    ("(d) enqueue -> start  p95               ms", ("latency", "to_start_ms", "p95"), False),
    ("(d) enqueue -> start  p99               ms", ("latency", "to_start_ms", "p99"), False),
    ("(d) enqueue -> done   p50               ms", ("latency", "to_done_ms", "p50"), False),
    ("(d) enqueue -> done   p95               ms", ("latency", "to_done_ms", "p95"), False),
    ("(d) enqueue -> done   p99               ms", ("latency", "to_done_ms", "p99"), False),
    ("(f) worker RSS before                  MiB", ("rss", "before", "rss_mib"), False),
    ("(f) worker RSS after                   MiB", ("rss", "after", "rss_mib"), False),
    ("(f) worker RSS growth                    %", ("rss", "growth_pct"), False),
    ("(f) worker PSS growth                    %", ("rss", "pss_growth_pct"), False),
    ("(f) CPU per job: worker main process    us", ("rss", "cpu_us_per_job", "worker_main"), False),
    (
        "(f) CPU per job: worker pool children   us",
        ("rss", "cpu_us_per_job", "worker_children"),
        False,
    ),
    ("(f) CPU per job: PostgreSQL server      us", ("rss", "cpu_us_per_job", "postgresql"), False),
    ("(f) CPU per job: Redis server           us", ("rss", "cpu_us_per_job", "redis"), False),
    ("(e) dedup: rows created for the keys", ("dedup", "created_rows"), True),
]

BIG_ROWS: list[tuple[str, tuple[str, ...], bool]] = [
    ("enqueue, 1 job per transaction  jobs/s", ("enqueue", "jobs_per_s"), True),
    ("drain, from worker start        jobs/s", ("drain", "jobs_per_s"), True),
    ("drain, steady (claim + record)  jobs/s", ("drain", "steady_jobs_per_s"), True),
    ("enqueue -> start p50                ms", ("latency", "to_start_ms", "p50"), False),
    ("enqueue -> done  p50                ms", ("latency", "to_done_ms", "p50"), False),
    ("enqueue -> done  p99                ms", ("latency", "to_done_ms", "p99"), False),
]


def get(result: Any, path: tuple[str, ...]) -> float | None:
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    if isinstance(result, bool) or not isinstance(result, int | float):
        return None
    return float(result)


def median_of(runs: list[Any]) -> Any:
    """Merge repeated runs: the median of every number, the first run's value otherwise."""
    runs = [run for run in runs if run is not None]
    if not runs:
        return None
    first = runs[0]
    if all(isinstance(run, dict) for run in runs):
        return {key: median_of([run.get(key) for run in runs]) for key in first}
    numbers = [run for run in runs if isinstance(run, int | float) and not isinstance(run, bool)]
    if numbers and len(numbers) == len(runs):
        return statistics.median(numbers)
    return first


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    if abs(value) >= 10:
        return f"{value:.1f}{unit}"
    return f"{value:.2f}{unit}"


def ratios(systems: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """jobkit / peer for every row (above 1: jobkit is higher, for good or bad per row)."""
    jobkit = systems.get("jobkit")
    table: dict[str, dict[str, Any]] = {}
    for label, path, higher in ROWS:
        row: dict[str, Any] = {
            peer: ratio(get(jobkit, path), get(systems.get(peer), path)) for peer in PEERS
        }
        row["higher_is_better"] = higher
        table[" ".join(label.split())] = row
    return table


def table(systems: dict[str, Any]) -> str:
    present = [name for name in NAMES if name in systems]
    peers = [peer for peer in PEERS if peer in systems] if "jobkit" in systems else []
    header = [" " * 44, *[f"{SHORT[n]:>10}" for n in present]]
    header += [f"{'jk/' + SHORT[p]:>13}" for p in peers]
    lines = ["".join(header)]
    for label, path, _higher in ROWS:
        values = [get(systems.get(name), path) for name in present]
        if all(value is None for value in values):
            continue
        shown = [fmt(v) if path[0] != "dedup" or v is None else f"{v:.0f}" for v in values]
        cells = [f"{label:<44}", *[f"{v:>10}" for v in shown]]
        jobkit = get(systems.get("jobkit"), path)
        for peer in peers:
            r = ratio(jobkit, get(systems.get(peer), path))
            cells.append(f"{fmt(r, 'x'):>13}")
        lines.append("".join(cells))
    lines.append(
        "ratios are jobkit / peer: above 1 is better for jobs/s, below 1 is better for "
        "ms, s, MiB and %"
    )
    return "\n".join(lines)


def big_table(empty: dict[str, Any], big: dict[str, Any]) -> str:
    lines = [f"{'':<40}{'empty':>10}{'filled':>10}{'filled/empty':>14}"]
    for label, path, _higher in BIG_ROWS:
        a, b = get(empty, path), get(big, path)
        lines.append(f"{label:<40}{fmt(a):>10}{fmt(b):>10}{fmt(ratio(b, a), 'x'):>14}")
    return "\n".join(lines)


def targets(systems: dict[str, Any], sizes: dict[str, int]) -> list[dict[str, Any]]:
    """The issue's targets (meant for PostgreSQL + Redis), each with its measured value."""
    jobkit = systems.get("jobkit")
    checks: list[tuple[str, float | None, str, float]] = []

    def vs(peer: str, path: tuple[str, ...]) -> float | None:
        return ratio(get(jobkit, path), get(systems.get(peer), path))

    steady = ("drain", "steady_jobs_per_s")
    checks.append(("drain steady >= 1.2x dcr-reuse", vs("celery-dcr-reuse", steady), ">=", 1.2))
    checks.append(("drain steady >= 0.6x celery", vs("celery", steady), ">=", 0.6))
    checks.append(
        ("enqueue >= 0.5x celery delay()", vs("celery", ("enqueue", "jobs_per_s")), ">=", 0.5)
    )
    checks.append(("bulk enqueue >= 10,000 jobs/s", get(jobkit, ("bulk", "jobs_per_s")), ">=", 1e4))
    done = ("latency", "to_done_ms")
    checks.append(("enqueue->done p50 <= 6 ms", get(jobkit, (*done, "p50")), "<=", 6))
    checks.append(("enqueue->done p99 <= 15 ms", get(jobkit, (*done, "p99")), "<=", 15))
    rss_jobs = sizes["rss"]
    checks.append(
        (f"RSS growth < 10% over {rss_jobs:,} jobs", get(jobkit, ("rss", "growth_pct")), "<", 10)
    )
    dedup = get(jobkit, ("dedup", "created_rows"))
    checks.append((f"dedup rows == {sizes['dedup_keys']}", dedup, "==", sizes["dedup_keys"]))
    big = (jobkit or {}).get("big_tables")
    if big:
        for label, path, higher in BIG_ROWS[:4]:
            r = ratio(get(big, path), get(jobkit, path))
            name = " ".join(label.split())
            if higher:
                checks.append((f"filled tables: {name} >= 0.8x empty", r, ">=", 0.8))
            else:
                checks.append((f"filled tables: {name} <= 1.2x empty", r, "<=", 1.2))
    out = []
    for name, value, op, limit in checks:
        if value is None:
            verdict = "n/a"
        else:
            verdict = {
                ">=": value >= limit,
                "<=": value <= limit,
                "<": value < limit,
                "==": value == limit,
            }[op]
            verdict = "PASS" if verdict else "FAIL"
        out.append({"target": name, "value": value, "verdict": verdict})
    return out


def render_targets(items: list[dict[str, Any]]) -> str:
    def shown(item: dict[str, Any]) -> str:
        value = item["value"]
        if value is not None and item["target"].startswith("dedup"):
            return f"{value:.0f}"
        return fmt(value)

    return "\n".join(
        f"  {item['verdict']:<5} {item['target']:<66} {shown(item):>8}" for item in items
    )
