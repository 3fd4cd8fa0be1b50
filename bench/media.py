"""The GPU/media queue's figures: warm resources, progress overhead, short media jobs.

    DATABASE_URL=... CELERY_BROKER_URL=... .venv/bin/python bench/media.py [--part P]

- `warm`: one worker child runs 21 jobs that take a resource whose loader sleeps 2 s: the
  first job's time against the next 20 (the resource kept by `Job.resource`).
- `progress`: the media app's transcode of a 20 s 640x360 clip (libx264), with its ffmpeg
  progress driving `set_progress` and without, alternated; the overhead is the difference
  of the medians.
- `batch`: 200 probe jobs (ffprobe of a short clip) on one worker `-c 2`, enqueued in one
  bulk call: jobs per second from the enqueue to the last result.

Uses the bench settings (example_project's, plus the bench app), a queue of its own per part
and `var/bench-media` for the files; removes its records and files after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("JOBKIT_DEMO_MEDIA_ROOT", str(ROOT / "var" / "bench-media"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.jobs import SlowLoaderJob  # noqa: E402
from django_jobkit import bulk_run_in_worker  # noqa: E402
from django_jobkit.models import JobResult  # noqa: E402
from example_project.celery import app  # noqa: E402
from example_project.media import ffmpeg  # noqa: E402
from example_project.media.jobs import ProbeMediaJob, TranscodeJob  # noqa: E402
from example_project.media.models import MediaFile  # noqa: E402


def worker(queue: str, concurrency: int) -> subprocess.Popen[bytes]:
    log = ROOT / "var" / f"{queue}.log"
    command = [sys.executable, "-m", "celery", "-A", "example_project", "worker", "-Q", queue]
    command += ["-c", str(concurrency), "-n", f"{queue}@%h", "-l", "warning"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def clip(name: str, seconds: float, size: str) -> MediaFile:
    return MediaFile.of_file(ffmpeg.make_test_clip(MediaFile.uploads() / name, seconds, size), name)


def ok(request, timeout: float = 300) -> JobResult:
    result = request.wait(timeout)
    if result.status != JobResult.Status.SUCCESSFUL:
        raise RuntimeError(f"{result.job_class}: {result.status} {result.error}")
    return result


def warm(queue: str) -> None:
    proc = worker(queue, 1)
    try:
        durations = [ok(SlowLoaderJob(2.0).run_in_worker(queue=queue)).duration for _ in range(21)]
    finally:
        stop(proc)
    first, rest = durations[0], durations[1:]
    print(
        f"warm resource (loader 2 s, -c 1): first job {first * 1000:.0f} ms; next 20 median "
        f"{statistics.median(rest) * 1000:.1f} ms, max {max(rest) * 1000:.1f} ms "
        f"({first / statistics.median(rest):.0f}x faster warm)"
    )


def progress(queue: str, rounds: int) -> None:
    media = clip("bench-20s.avi", 20, "640x360")
    proc = worker(queue, 1)
    times: dict[bool, list[float]] = {True: [], False: []}
    try:
        ok(TranscodeJob(media, progress=False).run_in_worker(queue=queue))  # warm caches
        for _ in range(rounds):
            for on in (True, False):
                result = ok(TranscodeJob(media, progress=on).run_in_worker(queue=queue))
                times[on].append(result.duration)
    finally:
        stop(proc)
    with_, without = statistics.median(times[True]), statistics.median(times[False])
    overhead = 100 * (with_ - without) / without
    print(
        f"transcode 20 s 640x360 libx264 (-c 1), medians of {rounds}: with progress "
        f"{with_:.2f} s, without {without:.2f} s: overhead {overhead:+.1f} %"
        f" (runs with: {', '.join(f'{t:.2f}' for t in times[True])}; without: "
        f"{', '.join(f'{t:.2f}' for t in times[False])})"
    )


def batch(queue: str, jobs: int) -> None:
    media = clip("bench-1s.avi", 1, "320x240")
    proc = worker(queue, 2)
    try:
        ok(ProbeMediaJob(media).run_in_worker(queue=queue))  # the worker is up
        started = time.perf_counter()
        requests = bulk_run_in_worker([ProbeMediaJob(media) for _ in range(jobs)], queue=queue)
        for request in requests:
            ok(request)
        elapsed = time.perf_counter() - started
    finally:
        stop(proc)
    print(f"{jobs} probe jobs (ffprobe each) on -c 2: {elapsed:.2f} s, {jobs / elapsed:.1f} jobs/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["warm", "progress", "batch", "all"], default="all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print(f"{app.conf.broker_url.split('://')[0]} + {connection.vendor}, {os.cpu_count()} cores")
    tag = uuid.uuid4().hex[:8]
    try:
        if args.part in ("warm", "all"):
            warm(f"bench-warm-{tag}")
        if args.part in ("progress", "all"):
            progress(f"bench-progress-{tag}", args.rounds)
        if args.part in ("batch", "all"):
            batch(f"bench-batch-{tag}", args.jobs)
    finally:
        MediaFile.objects.filter(title__startswith="bench-").delete()
        JobResult.objects.filter(queue__endswith=tag).delete()
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
