"""Measures one system against one database + broker: `python -m bench.driver` (run.py starts it).

Phases, in this order, each recorded even when another fails:
  enqueue  (a) `enqueue` no-op jobs one per transaction into a queue no worker consumes yet
  bulk     (b) `bulk` jobs through the system's bulk path into a second queue, then dropped
  drain    (c) a worker is started on the first queue and drains it
  latency  (d) sequential jobs through that warm worker, timed by the probe
  rss      (f) worker memory before and after `rss` more jobs
  dedup    (e) jobkit only: racing processes over concurrency keys
and with --big-tables (jobkit, PostgreSQL) enqueue, drain and latency again over filled tables,
with the EXPLAIN of each hot query.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import CONCURRENCY, ROOT, WORKER_FLAGS, Sizes, log
from bench.probe import SOCKET_ENV, Listener
from bench.systems import System, make
from bench.workers import Worker, cpu_used, kill_group, server_cpu

WARMUP = 20  # unmeasured enqueues before (a) and (b): connections opened, code paths warm


class Run:
    """What the phases of one driver share: the system, sizes, queues and worker to clean up."""

    def __init__(self, system: System, sizes: Sizes, run_dir: Path, run_id: str) -> None:
        self.system = system
        self.sizes = sizes
        self.run_dir = run_dir
        self.run_id = run_id
        self.listener = Listener(os.environ[SOCKET_ENV])
        self.queues: list[str] = []
        self.workers: list[Worker] = []

    def queue(self, phase: str) -> str:
        name = f"bench-{self.system.name}-{self.run_id}-{phase}"
        self.queues.append(name)
        return name

    def start_worker(self, queue: str) -> Worker:
        log_file = self.run_dir / f"worker-{queue}.log"
        worker = Worker(
            self.system.app_target, queue, dict(os.environ), log_file, self.run_dir / "pgids"
        )
        self.workers.append(worker)
        return worker

    def stop_worker(self, worker: Worker) -> None:
        worker.stop()
        self.workers.remove(worker)

    def cleanup(self) -> None:
        for worker in list(self.workers):
            self.stop_worker(worker)
        for queue in self.queues:
            try:
                self.system.forget(queue)
                self.system.delete_queue(queue)
            except Exception as exc:
                log(f"  could not drop queue {queue}: {exc}")
        self.listener.close()


def phase(results: dict[str, Any], name: str, fn: Callable[[], Any]) -> Any:
    """Run one measure; a failure is recorded under its name and the next measure still runs."""
    started = time.monotonic()
    try:
        value = fn()
    except Exception as exc:
        log(f"  {name}: FAILED: {type(exc).__name__}: {exc}")
        results[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        return None
    results[name] = value
    log(f"  {name}: {summary(value)} ({time.monotonic() - started:.1f} s)")
    return value


def summary(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value)
    keys = ["jobs_per_s", "steady_jobs_per_s", "to_done_ms", "growth_pct", "ok", "note"]
    parts = []
    for key in keys:
        if key in value:
            item = value[key]
            if isinstance(item, dict):
                item = {k: round(v, 2) for k, v in item.items() if k in ("p50", "p99")}
            elif isinstance(item, float):
                item = round(item, 1)
            parts.append(f"{key}={item}")
    return " ".join(parts)


# --- (a) enqueue, one job per transaction --------------------------------------------------------
def measure_enqueue(run: Run, queue: str, total: int) -> dict[str, Any]:
    """`total` jobs land in `queue`: a first edge job, warm-ups, the timed ones, a last edge."""
    system = run.system
    system.enqueue_edge(queue, "drain-first")
    for _ in range(WARMUP - 1):
        system.enqueue(queue)
    timed = total - WARMUP - 1
    started = time.perf_counter()
    for _ in range(timed):
        system.enqueue(queue)
    seconds = time.perf_counter() - started
    system.enqueue_edge(queue, "drain-last")
    return {
        "jobs": timed,
        "seconds": seconds,
        "jobs_per_s": timed / seconds,
        "us_per_job": seconds / timed * 1e6,
        "queue_depth_after": system.queue_depth(queue),
    }


# --- (b) bulk enqueue ----------------------------------------------------------------------------
def measure_bulk(run: Run, n: int) -> dict[str, Any]:
    bulk = run.system.bulk()
    if bulk is None:
        return {"jobs_per_s": None, "note": "n/a: the system has no bulk enqueue API"}
    queue = run.queue("bulk")
    bulk(queue, WARMUP)
    started = time.perf_counter()
    bulk(queue, n)
    seconds = time.perf_counter() - started
    depth = run.system.queue_depth(queue)
    run.system.forget(queue)
    run.system.delete_queue(queue)
    return {
        "jobs": n,
        "seconds": seconds,
        "jobs_per_s": n / seconds,
        "queue_depth_after": depth,
    }


# --- (c) drain -----------------------------------------------------------------------------------
def measure_drain(run: Run, queue: str, total: int) -> dict[str, Any]:
    """Start the worker on the filled queue; rates from worker start and between completions."""
    after = run.system.watermark()
    worker = run.start_worker(queue)
    edges = run.system.wait_drained(
        queue, "drain", total, after, run.listener, total / 20 + 90, guard=worker.check
    )
    first, last = edges["first"], edges["last"]
    return {
        "jobs": total,
        "seen": edges["count"],
        "seconds_from_start": last - worker.started_at,
        "jobs_per_s": total / (last - worker.started_at),
        "first_done_after_start_s": first - worker.started_at,
        "steady_jobs_per_s": (total - 1) / (last - first),
        "queue_depth_after": run.system.queue_depth(queue),
    }


# --- (d) latency ---------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": cuts[49],
        "p95": cuts[94],
        "p99": cuts[98],
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def measure_latency(run: Run, worker: Worker, queue: str) -> dict[str, Any]:
    """Sequential jobs: enqueue one, wait for its end, enqueue the next (milliseconds)."""
    to_start: list[float] = []
    to_done: list[float] = []
    call: list[float] = []
    for i in range(run.sizes.latency_warmup + run.sizes.latency):
        t0 = time.time()
        task_id = run.system.enqueue_latency(queue)
        t1 = time.time()
        start, done = map(float, run.listener.wait("done", task_id, 30, guard=worker.check))
        if i >= run.sizes.latency_warmup:
            to_start.append((start - t0) * 1000)
            to_done.append((done - t0) * 1000)
            call.append((t1 - t0) * 1000)
    return {
        "jobs": len(to_done),
        "to_start_ms": percentiles(to_start),
        "to_done_ms": percentiles(to_done),
        "enqueue_call_ms": percentiles(call),
    }


# --- (f) worker memory ---------------------------------------------------------------------------
def measure_rss(run: Run, worker: Worker, queue: str, n: int) -> dict[str, Any]:
    """Memory before and after n more jobs on the warm worker, and the CPU each job took from
    the worker's processes and the local servers meanwhile (the servers' share includes the
    bulk enqueue of the n jobs, a small part: one INSERT, pipelined publishes)."""
    before = worker.memory()
    after_mark = run.system.watermark()
    cpu_before = {**worker.cpu(), **server_cpu()}
    started = time.monotonic()
    run.system.enqueue_many(queue, n)
    run.system.wait_drained(
        queue, "", n, after_mark, run.listener, n / 20 + 120, guard=worker.check
    )
    seconds = time.monotonic() - started
    cpu_after = {**worker.cpu(), **server_cpu()}
    after = worker.memory()
    return {
        "jobs": n,
        "seconds": seconds,
        "cpu_us_per_job": {
            key: used / n * 1e6 for key, used in cpu_used(cpu_before, cpu_after).items()
        },
        "before": before,
        "after": after,
        "growth_pct": (after["rss_mib"] / before["rss_mib"] - 1) * 100,
        "pss_growth_pct": (after["pss_mib"] / before["pss_mib"] - 1) * 100
        if before["pss_mib"]
        else None,
    }


# --- (e) dedup -----------------------------------------------------------------------------------
def measure_dedup(run: Run) -> dict[str, Any]:
    """Racing processes enqueue the same keys at once; each key must give exactly one row."""
    system = run.system
    queue = run.queue("dedup")
    keys = [f"race-{i}" for i in range(run.sizes.dedup_keys)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.racer", queue, *keys],
            cwd=ROOT,
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for _ in range(run.sizes.dedup_processes)
    ]
    try:
        for racer in racers:  # every racer has set Django up and waits for the signal
            assert racer.stdin is not None and racer.stdout is not None
            line = racer.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"racer did not start: {line!r} {racer.stderr.read()}")
        started = time.perf_counter()
        for racer in racers:
            racer.stdin.write("go\n")  # type: ignore[union-attr]
            racer.stdin.flush()  # type: ignore[union-attr]
        outputs = [racer.communicate(timeout=120) for racer in racers]
        seconds = time.perf_counter() - started
    finally:
        for racer in racers:
            if racer.poll() is None:
                kill_group(racer.pid, 5)
    for racer, (_out, err) in zip(racers, outputs, strict=True):
        if racer.returncode != 0:
            raise RuntimeError(f"racer failed: {err[-2000:]}")
    reported = sum(int(out.split()[-1]) for out, _err in outputs)
    rows = system.JobRequest.objects.filter(queue=queue)  # type: ignore[attr-defined]
    created = rows.count()
    distinct = rows.values("concurrency_key").distinct().count()
    attempts = len(racers) * len(keys)
    system.forget(queue)
    system.delete_queue(queue)
    return {
        "processes": len(racers),
        "keys": len(keys),
        "attempts": attempts,
        "created_rows": created,
        "distinct_keys": distinct,
        "reported_created": reported,
        "ok": created == len(keys) == distinct == reported,
        "seconds": seconds,
        "attempts_per_s": attempts / seconds,
    }


# --- the whole run -------------------------------------------------------------------------------
def measure_core(run: Run, results: dict[str, Any], label: str, rss: bool, bulk: bool) -> None:
    sizes = run.sizes
    queue = run.queue(label)
    phase(results, "enqueue", lambda: measure_enqueue(run, queue, sizes.enqueue))
    if bulk:
        phase(results, "bulk", lambda: measure_bulk(run, sizes.bulk))
    drained = phase(results, "drain", lambda: measure_drain(run, queue, sizes.enqueue))
    worker = run.workers[-1] if run.workers else None
    if worker is not None and worker.alive():
        if drained is not None:
            drained["memory_after_drain"] = worker.memory()
        phase(results, "latency", lambda: measure_latency(run, worker, queue))
        if rss:
            phase(results, "rss", lambda: measure_rss(run, worker, queue, sizes.rss))
    if worker is not None:
        run.stop_worker(worker)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", required=True)
    parser.add_argument("--sizes", required=True, help="JSON of bench.common.Sizes")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--big-tables", action="store_true")
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args(argv)

    # SIGTERM (from run.py, or a user) unwinds through `finally`: workers stopped, queues dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    system = make(args.system)
    system.setup()
    system.reset()
    sizes = Sizes(**json.loads(args.sizes))
    run = Run(system, sizes, args.run_dir, args.run_id)
    results: dict[str, Any] = {"system": system.name, "label": system.label}
    results["worker_command"] = f"celery -A {system.app_target} worker " + " ".join(WORKER_FLAGS)
    results["concurrency"] = CONCURRENCY
    try:
        measure_core(run, results, "main", rss=True, bulk=True)
        if system.name == "jobkit":
            phase(results, "dedup", lambda: measure_dedup(run))
            if args.big_tables:
                from bench import bigtables

                big: dict[str, Any] = {}
                results["big_tables"] = big
                if phase(big, "fill", lambda: bigtables.fill(sizes.big_rows)):
                    measure_core(run, big, "big", rss=False, bulk=False)
                    phase(big, "explain", lambda: bigtables.explain(run))
            elif args.explain:
                from bench import bigtables

                phase(results, "explain", lambda: bigtables.explain(run))
    except SystemExit:
        results["error"] = "interrupted"
        raise
    finally:
        run.cleanup()
        system.reset()
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
