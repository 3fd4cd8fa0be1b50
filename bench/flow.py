"""Flow control's figures: `run_batch` of 10,000 children, and what limits cost.

    DATABASE_URL=... CELERY_BROKER_URL=... .venv/bin/python bench/flow.py [--children N]

- `batch`: `run_batch` of N no-op children (default 10,000) in one transaction, its messages
  sent after commit: jobs per second, median of 3.
- `bulk`: `bulk_run_in_worker` of the same N jobs, for comparison (the batch adds one row and a
  uuid per child).
- `limited`: `bulk_run_in_worker` of N jobs under one running limit of 10 (10 sent, the rest
  waiting with their holds).

Uses the bench settings, a queue of its own whose messages are purged after, and removes its
records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from django_jobkit import Job, Limit, bulk_run_in_worker, register_job, run_batch  # noqa: E402
from django_jobkit.models import JobBatch, JobHold, JobRequest  # noqa: E402
from example_project.celery import app  # noqa: E402


@register_job
class FlowNoopJob(Job):
    def __init__(self, queue: str, limited: bool = False) -> None:
        self.queue = queue
        self.limited = limited

    def default_queue(self) -> str:
        return self.queue

    def limits(self) -> list[Limit]:
        return [Limit(f"bench-{self.queue}", running=10)] if self.limited else []

    def run(self) -> None:
        return None


def timed(make: object, n: int) -> float:
    started = time.perf_counter()
    make()  # type: ignore[operator]
    return n / (time.perf_counter() - started)


def clean(queue: str) -> None:
    JobRequest.objects.filter(queue=queue).delete()
    JobHold.objects.filter(key=f"bench-{queue}").delete()
    JobBatch.objects.filter(name__startswith="bench ").delete()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    n = args.children
    queue = f"bench-flow-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare(queue)
    figures: dict[str, list[float]] = {"batch": [], "bulk": [], "limited": []}
    try:
        for _ in range(args.repeat):
            for name, make in (
                ("batch", lambda: run_batch([FlowNoopJob(queue) for _ in range(n)], name="bench ")),
                ("bulk", lambda: bulk_run_in_worker([FlowNoopJob(queue) for _ in range(n)])),
                (
                    "limited",
                    lambda: bulk_run_in_worker([FlowNoopJob(queue, True) for _ in range(n)]),
                ),
            ):
                figures[name].append(timed(make, n))
                clean(queue)
    finally:
        clean(queue)
    print(f"{n} jobs, median of {args.repeat}, jobs/s (enqueue to messages sent):")
    for name, values in figures.items():
        each = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:8} {statistics.median(values):8.0f}   ({each})")


if __name__ == "__main__":
    main()
