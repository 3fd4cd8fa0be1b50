"""The embedded default under a backlog: N jobs waiting, then the demo's worker drains them.

    .venv/bin/python bench/backlog.py [--jobs 20000]

The README's demo runs on SQLite and kombu's filesystem transport (no `DATABASE_URL`, no
`CELERY_BROKER_URL`); a developer who enqueues a real backlog locally sees this figure. The run
uses a folder of its own (`bench/out/backlog-<time>`: a fresh database and broker folder),
enqueues N no-op jobs with `bulk_run_in_worker`, then starts the demo's worker command (`celery
-A example_project worker -Q default,slow`, the Procfile's flags) and times the drain from the
jobs' `ended_at`:

- `drain`: N / (last end - worker start), start-up included;
- `steady`: (N - 1) / (last end - first end), the engine alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN_DIR = ROOT / "bench" / "out" / f"backlog-{time.strftime('%Y%m%d-%H%M%S')}"
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "JOBKIT_VAR_DIR": str(RUN_DIR),
    "DATABASE_URL": "",  # the embedded default: SQLite ...
    "CELERY_BROKER_URL": "",  # ... and the filesystem transport
}
os.environ.update(ENV)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from bench.jobs import NoopJob  # noqa: E402
from bench.workers import kill_group  # noqa: E402
from django_jobkit import bulk_run_in_worker  # noqa: E402
from django_jobkit.models import JobResult  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    n = args.jobs
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    bulk_run_in_worker([NoopJob() for _ in range(n)], queue="default")
    print(f"enqueued {n} jobs in {time.perf_counter() - started:.1f} s", flush=True)

    command = [sys.executable, "-m", "celery", "-A", "example_project", "worker"]
    command += ["-Q", "default,slow", "-l", "warning"]
    log = (RUN_DIR / "worker.log").open("ab")
    spawned = time.time()
    worker = subprocess.Popen(
        command, cwd=ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + args.timeout
    done = 0
    try:
        while done < n:
            if worker.poll() is not None:
                sys.exit(f"the worker exited with {worker.returncode}: see {log.name}")
            if time.monotonic() > deadline:
                sys.exit(f"only {done} of {n} jobs done after {args.timeout:.0f} s")
            time.sleep(1)  # a progress poll, not the measure: the times are the rows' own
            done = JobResult.objects.count()
            print(f"  {done} done", flush=True)
    finally:
        kill_group(worker.pid)
        log.close()
    ends = JobResult.objects.aggregate(first=Min("ended_at"), last=Max("ended_at"))
    first, last = ends["first"].timestamp(), ends["last"].timestamp()
    print(f"{n} jobs waiting, SQLite + filesystem transport, the demo's worker (2 cores):")
    print(f"  drain   {n / (last - spawned):8.0f} jobs/s  (from worker start)")
    print(f"  steady  {(n - 1) / (last - first):8.0f} jobs/s  (first to last end)")


if __name__ == "__main__":
    main()
