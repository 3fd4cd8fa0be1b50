"""Soak: `then` runs exactly once per batch across 50 batches on three workers, children failing
at random and one worker SIGKILLed mid-batch.

Run with `python3 dev.py test -m soak tests/soak` (CI's soak run)."""

from __future__ import annotations

import os
import random
import signal
import uuid

import pytest
from django.core.cache import cache

from django_jobkit import run_batch
from django_jobkit.models import JobBatch, JobProcess, JobResult
from tests.conftest import wait_for
from tests.jobs import BatchChildJob, BatchThenJob

pytestmark = [pytest.mark.soak, pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def _then_runs(tag: str) -> list[list[object]]:
    return cache.get(f"then-{tag}", [])


def test_then_runs_exactly_once_per_batch_with_random_failures_and_a_killed_worker(
    start_worker_process, fresh_queue
):
    queue = fresh_queue()
    rng = random.Random(1303)
    victim = start_worker_process(queues=[queue], concurrency=2)
    survivors = [start_worker_process(queues=[queue], concurrency=2) for _ in range(2)]
    tag = uuid.uuid4().hex[:8]
    batches = []
    for b in range(50):
        jobs = [
            BatchChildJob(
                i,
                fail=rng.random() < 0.2,
                seconds=rng.choice([0, 0, 0.05, 0.2]),
                queue=queue,
                retries=2,  # a child of the killed worker is LOST, then retried
            )
            for i in range(rng.randint(1, 6))
        ]
        # `then` too may be running on the worker that is killed: LOST, then retried.
        then = BatchThenJob(f"{tag}-{b}", queue=queue, retries=2)
        batches.append(run_batch(jobs, then=then, name=f"soak {b}"))
        if b == 25:
            wait_for(
                lambda: JobProcess.objects.filter(worker_pid=victim.proc.pid).exists(),
                30,
                "the victim to run a child",
            )
            os.killpg(victim.proc.pid, signal.SIGKILL)  # mid-batch, no goodbye
    for batch in batches:
        batch.wait(120)
    thens = JobResult.objects.filter(job_class="tests.jobs.BatchThenJob")
    wait_for(lambda: thens.filter(status=S.SUCCESSFUL).count() >= 50, 120, "every batch's then")
    # Enqueued exactly once per batch: one chain each (a chain may hold a LOST attempt of the
    # killed worker and its retry), each chain's batch its own, each ending SUCCESSFUL.
    roots = set(thens.values_list("root_uuid", flat=True))
    assert len(roots) == 50
    assert {JobBatch.objects.get(pk=b.pk).then_root_uuid for b in batches} == roots
    assert thens.filter(status=S.SUCCESSFUL).count() == 50
    for b, batch in enumerate(batches):
        runs = _then_runs(f"{tag}-{b}")
        assert runs, b
        counts = runs[-1][1]
        assert counts["waiting"] == counts["running"] == 0
        assert counts["succeeded"] + counts["failed"] + counts["cancelled"] == batch.total
    assert all(s.proc.poll() is None for s in survivors)
