#!/usr/bin/env python
"""Benchmark django-jobkit against raw Celery, side by side, in one run (see bench/README.md).

    .venv/bin/python bench/run.py --quick            # under 3 minutes, PostgreSQL + Redis
    .venv/bin/python bench/run.py                    # the full sizes
    .venv/bin/python bench/run.py --rabbitmq --sqlite --big-tables --repeat 3

Prints one table per database + broker with the jobkit/peer ratios and the issue's targets, and
writes everything to bench/out/bench-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import report  # noqa: E402
from bench.common import (  # noqa: E402
    DEFAULT_AMQP_URL,
    DEFAULT_POSTGRES_URL,
    DEFAULT_REDIS_URL,
    OUT,
    QUICK,
    ROOT,
    VAR,
    WORKER_FLAGS,
    Config,
    Sizes,
    base_env,
    configs,
    log,
)
from bench.systems import NAMES, make  # noqa: E402
from bench.workers import group_alive, kill_group  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under 3 minutes")
    parser.add_argument("--rabbitmq", action="store_true", help="also PostgreSQL + RabbitMQ")
    parser.add_argument("--sqlite", action="store_true", help="also SQLite + filesystem broker")
    parser.add_argument("--no-redis", action="store_true", help="skip PostgreSQL + Redis")
    parser.add_argument(
        "--systems", default=",".join(NAMES), help=f"comma-separated subset of {','.join(NAMES)}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per system; medians shown")
    parser.add_argument(
        "--big-tables",
        action="store_true",
        help="jobkit again over 1,000,000 delayed requests and results, with EXPLAIN",
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN jobkit's hot queries")
    parser.add_argument(
        "--peers-like-jobkit",
        action="store_true",
        help="give the raw Celery peers example_project's Celery settings (prefetch 1, ...)",
    )
    parser.add_argument("--jobs", type=int, help="jobs enqueued (a) and drained (c)")
    parser.add_argument("--bulk-jobs", type=int, help="jobs of the bulk enqueue (b)")
    parser.add_argument("--latency-jobs", type=int, help="sequential jobs timed (d)")
    parser.add_argument("--rss-jobs", type=int, help="jobs between the two memory figures (f)")
    parser.add_argument("--big-rows", type=int, help="rows in each filled table")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--out", type=Path, help="JSON file (default bench/out/bench-<time>.json)")
    args = parser.parse_args(argv)
    unknown = set(args.systems.split(",")) - set(NAMES)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose among {NAMES}")
    return args


def sizes_from(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else Sizes()
    overrides = {
        "enqueue": args.jobs,
        "bulk": args.bulk_jobs,
        "latency": args.latency_jobs,
        "rss": args.rss_jobs,
        "big_rows": args.big_rows,
    }
    return replace(sizes, **{k: v for k, v in overrides.items() if v is not None})


# --- preparing a database + broker ----------------------------------------------------------------
def reachable(url: str, default_port: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        raise SystemExit(f"{url}: cannot connect to {host}:{port} ({exc})") from None


def create_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare(config: Config) -> None:
    """Servers reachable, the database created and migrated, no messages left from before."""
    if config.vendor == "postgresql":
        reachable(config.database_url, 5432)
        create_postgres_database(config.database_url)
    else:
        shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True, exist_ok=True)
    if config.broker == "redis":
        reachable(config.broker_url, 6379)
    elif config.broker == "amqp":
        reachable(config.broker_url, 5672)
    env = base_env(config, DJANGO_SETTINGS_MODULE="bench.settings")
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )


# --- one driver ----------------------------------------------------------------------------
def run_driver(
    args: argparse.Namespace,
    config: Config,
    name: str,
    sizes: Sizes,
    run_dir: Path,
    run_id: str,
    socket_dir: Path,
) -> dict[str, Any]:
    system = make(name)
    out = run_dir / f"{config.name}-{name}-{run_id}.json"
    extra = {"BENCH_PROBE_SOCKET": str(socket_dir / f"{run_id}-{name}.sock"), **system.env}
    if system.settings:
        extra["DJANGO_SETTINGS_MODULE"] = system.settings
    if args.peers_like_jobkit:
        extra["BENCH_PEERS_LIKE_JOBKIT"] = "1"
    command = [sys.executable, "-m", "bench.driver", "--system", name]
    command += ["--sizes", json.dumps(sizes.as_dict()), "--run-dir", str(run_dir)]
    command += ["--run-id", run_id, "--out", str(out)]
    if name == "jobkit" and args.big_tables:
        command.append("--big-tables")
    if name == "jobkit" and args.explain:
        command.append("--explain")
    timeout = 900 + sizes.rss / 20 + (sizes.big_rows / 5000 if args.big_tables else 0)
    log(f"[{config.name}] {system.label}")
    proc = subprocess.Popen(
        command, cwd=ROOT, env=base_env(config, **extra), start_new_session=True
    )
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        log(f"  driver still running after {timeout:.0f} s: stopping it")
    finally:
        if proc.poll() is None:  # also on Ctrl-C: the driver stops its workers on SIGTERM
            kill_group(proc.pid, 60)
    if not out.exists():
        return {"system": name, "label": system.label, "error": f"driver exit {proc.returncode}"}
    return json.loads(out.read_text())


def kill_leftovers(run_dir: Path) -> None:
    """Workers a driver could not stop (it was killed): their process groups, by recorded id."""
    pid_file = run_dir / "pgids"
    if not pid_file.exists():
        return
    for line in pid_file.read_text().split():
        pgid = int(line)
        if group_alive(pgid):
            log(f"stopping leftover worker process group {pgid}")
            kill_group(pgid, 10)


# --- the machine ---------------------------------------------------------------------------
def machine(args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        info["memory_gib"] = round(kib / 1024 / 1024, 1)
    packages = ["django", "celery", "kombu", "django-celery-results", "psycopg", "redis", "amqp"]
    for package in packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[package] = metadata.version(package)
    with contextlib.suppress(Exception):
        import psycopg

        admin = urlunsplit(urlsplit(args.postgres_url)._replace(path="/postgres"))
        with psycopg.connect(admin, connect_timeout=3) as conn:
            info["postgresql_server"] = conn.execute("SHOW server_version").fetchone()[0]
    with contextlib.suppress(Exception):
        import redis

        info["redis_server"] = redis.Redis.from_url(args.redis_url).info("server")["redis_version"]
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C (even when started in the background) and SIGTERM unwind through `finally`: the
    # running driver is stopped, and it stops its worker.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = sizes_from(args)
    systems = [name for name in NAMES if name in args.systems.split(",")]
    all_configs = configs(args.postgres_url, args.redis_url, args.amqp_url)
    chosen = [] if args.no_redis else ["pg-redis"]
    chosen += ["pg-rabbitmq"] * args.rabbitmq + ["sqlite-fs"] * args.sqlite
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = OUT / f"run-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_dir = Path(tempfile.mkdtemp(prefix="jobkit-bench-"))
    started = time.time()
    document: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": args.quick,
        "sizes": sizes.as_dict(),
        "worker_flags": WORKER_FLAGS,
        "peers_like_jobkit": args.peers_like_jobkit,
        "machine": machine(args),
        "configs": {},
    }
    log(f"benchmark run {stamp}: {', '.join(chosen)}; systems {', '.join(systems)}; {sizes}")
    try:
        for config_name in chosen:
            config = all_configs[config_name]
            prepare(config)
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
            for repeat in range(args.repeat):
                order = systems[repeat % len(systems) :] + systems[: repeat % len(systems)]
                for name in order:
                    run_id = f"{stamp[-6:]}{repeat}"
                    runs[name].append(
                        run_driver(args, config, name, sizes, run_dir, run_id, socket_dir)
                    )
            merged = {name: report.median_of(results) for name, results in runs.items()}
            document["configs"][config_name] = {
                "label": config.label,
                "database": config.vendor,
                "broker": config.broker,
                "systems": merged,
                "ratios": report.ratios(merged),
                "targets": report.targets(merged, sizes.as_dict()),
                "runs": runs if args.repeat > 1 else None,
            }
    finally:
        kill_leftovers(run_dir)
        shutil.rmtree(socket_dir, ignore_errors=True)
        document["seconds"] = time.time() - started
        document["machine"]["load_average_at_end"] = os.getloadavg()
        path = args.out or OUT / f"bench-{stamp}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, default=str))
    print(render(document, path))
    return 0


def busy(m: dict[str, Any]) -> bool:
    loads = [m["load_average_at_start"][0], m["load_average_at_end"][0]]
    return max(loads) > 0.75 * (m.get("cpus") or 1)


def render(document: dict[str, Any], path: Path) -> str:
    m = document["machine"]
    sizes = document["sizes"]
    lines = [
        "",
        f"django-jobkit benchmark{' (--quick)' if document['quick'] else ''}, "
        f"{document['started']}: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), PostgreSQL "
        f"{str(m.get('postgresql_server', '?')).split()[0]}, Redis {m.get('redis_server', '?')}, "
        f"Celery {m.get('celery')}, Django {m.get('django')}",
        f"load average {m['load_average_at_start'][0]:.2f} at start, "
        f"{m['load_average_at_end'][0]:.2f} at end"
        + (" (a busy machine: expect noisy figures)" if busy(m) else ""),
        f"worker: celery worker {' '.join(document['worker_flags'])}",
        f"sizes: enqueue/drain {sizes['enqueue']:,}, bulk {sizes['bulk']:,}, latency "
        f"{sizes['latency']:,} sequential, memory over {sizes['rss']:,} jobs, dedup "
        f"{sizes['dedup_processes']} processes x {sizes['dedup_keys']} keys",
    ]
    for name, config in document["configs"].items():
        systems = config["systems"]
        lines += ["", f"== {config['label']} ({name})", report.table(systems)]
        errors = [
            f"  {system}: {phase}: {value['error']}"
            for system, result in systems.items()
            for phase, value in (result or {}).items()
            if isinstance(value, dict) and "error" in value
        ]
        errors += [
            f"  {system}: {result['error']}"
            for system, result in systems.items()
            if isinstance(result, dict) and isinstance(result.get("error"), str)
        ]
        if errors:
            lines += ["errors:", *errors]
        jobkit = systems.get("jobkit") or {}
        dedup = jobkit.get("dedup")
        if isinstance(dedup, dict) and "created_rows" in dedup:
            lines.append(
                f"(e) dedup: {dedup['processes']} processes x {dedup['keys']} keys -> "
                f"{dedup['created_rows']} rows ({'ok' if dedup['ok'] else 'WRONG'}), "
                f"{dedup['attempts_per_s']:.0f} attempts/s; peers have no dedup"
            )
        big = jobkit.get("big_tables")
        if big:
            fill = big.get("fill", {})
            lines += ["", f"-- jobkit with filled tables: {fill.get('note', fill.get('error'))}"]
            lines.append(report.big_table(jobkit, big))
            explain = big.get("explain")
        else:
            explain = jobkit.get("explain")
        lines += ["", "targets (issue #5, meant for PostgreSQL + Redis):"]
        lines.append(report.render_targets(config["targets"]))
        if isinstance(explain, dict) and "file" in explain:
            lines += ["", f"-- EXPLAIN of jobkit's hot queries ({explain['note']}):"]
            lines += [f"   SEQUENTIAL SCAN: {scan}" for scan in explain["seq_scans"]]
            lines.append(Path(explain["file"]).read_text())
    lines += ["", f"JSON: {path}   ({document['seconds']:.0f} s)"]
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; workers stopped, partial results written under bench/out/")
        sys.exit(130)
