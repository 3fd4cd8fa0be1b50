"""Soak: 20,000 jobs with random failures and retries while workers are killed and restarted.

Run with `python3 dev.py test -m soak tests/soak` (CI runs it on PostgreSQL + Redis). It prints
an accounting of every committed job and fails if any is missing or has a duplicate result.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
from django.db.models import Count
from django.test import override_settings

from django_jobkit import bulk_run_in_worker
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import SoakJob

pytestmark = [pytest.mark.soak, pytest.mark.worker, pytest.mark.slow]

JOBS = int(os.environ.get("JOBKIT_SOAK_JOBS", 20_000))
KILLS = 3
S = JobResult.Status


def accounting(expected_roots: set) -> dict[str, int]:
    final = JobResult.objects.filter(retry_job_request_uuid__isnull=True)
    final_roots = Counter(final.values_list("root_uuid", flat=True))
    duplicates = (
        JobResult.objects.values("job_request_uuid").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    statuses = Counter(JobResult.objects.values_list("status", flat=True))
    return {
        "enqueued": len(expected_roots),
        "successful": final.filter(status=S.SUCCESSFUL).count(),
        "errored": final.filter(status=S.ERRORED).count(),
        "lost": final.filter(status=S.LOST).count(),
        "attempts": sum(statuses.values()),
        "retried": JobResult.objects.filter(retry_job_request_uuid__isnull=False).count(),
        "lost attempts": statuses[S.LOST],
        "duplicates": duplicates + sum(n - 1 for n in final_roots.values() if n > 1),
        "missing": len(expected_roots - set(final_roots)),
        "waiting": JobRequest.objects.count(),
        "running": JobProcess.objects.count(),
    }


def test_soak(start_worker_process):
    workers = [start_worker_process(concurrency=2) for _ in range(2)]
    started = time.monotonic()
    roots: set = set()
    for chunk in range(0, JOBS, 1000):
        requests = bulk_run_in_worker(SoakJob(n) for n in range(chunk, min(chunk + 1000, JOBS)))
        roots.update(r.root_uuid for r in requests)
    kills = 0
    deadline = time.monotonic() + 600
    with override_settings(JOBKIT_HEARTBEAT_TIMEOUT=3, JOBKIT_RESEND_AFTER=30):
        while time.monotonic() < deadline:
            Sweeper().sweep()
            done = JobResult.objects.filter(retry_job_request_uuid__isnull=True).count()
            if kills < KILLS and done >= (kills + 1) * JOBS // (KILLS + 2):
                victim = workers.pop(0)
                os.killpg(victim.proc.pid, signal.SIGKILL)  # mid-job, no goodbye
                victim.proc.wait(10)
                workers.append(start_worker_process(concurrency=2))
                kills += 1
            if done >= JOBS and not JobRequest.objects.exists() and not JobProcess.objects.exists():
                break
            time.sleep(1)  # the sweeper's own pace (JOBKIT_SWEEP_INTERVAL in tests)
    figures = accounting(roots)
    elapsed = time.monotonic() - started
    print(f"\nsoak: {JOBS} jobs, {kills} worker kills, {elapsed:.0f} s")
    for name, value in figures.items():
        print(f"  {name:>14}: {value}")
    assert kills == KILLS
    assert figures["missing"] == 0 and figures["duplicates"] == 0
    assert figures["waiting"] == 0 and figures["running"] == 0
    assert figures["successful"] + figures["errored"] + figures["lost"] == JOBS
