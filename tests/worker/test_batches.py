"""Batches on real workers: `then` runs exactly once with the children's counts, across
failures, a cancel and nesting. Fifty batches with a worker killed mid-batch are in the soak
run (tests/soak/test_batches.py)."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from django_jobkit import run_batch
from django_jobkit.models import JobBatch, JobProcess, JobRequest, JobResult
from tests.conftest import wait_for
from tests.jobs import BatchChildJob, BatchThenJob, FanOutJob

pytestmark = pytest.mark.worker

S = JobResult.Status


def _then_runs(tag: str) -> list[list[object]]:
    return cache.get(f"then-{tag}", [])


def test_then_runs_once_after_every_child_with_their_counts(start_worker_process):
    start_worker_process(concurrency=2)
    tag = uuid.uuid4().hex[:8]
    batch = run_batch(
        [BatchChildJob(i, fail=i % 4 == 0) for i in range(12)], then=BatchThenJob(tag)
    )
    batch.wait(60)
    then = JobResult.objects.filter(job_class="tests.jobs.BatchThenJob")
    result = wait_for(lambda: then.filter(status=S.SUCCESSFUL).first(), 30, "then's result")
    assert result.return_value == {
        "waiting": 0,
        "running": 0,
        "succeeded": 9,
        "failed": 3,
        "cancelled": 0,
    }
    assert _then_runs(tag) == [[str(batch.uuid), result.return_value]]
    assert then.count() == 1
    assert result.root_uuid == JobBatch.objects.get(pk=batch.pk).then_root_uuid


def test_nested_batches_complete_inside_out(start_worker_process):
    start_worker_process(concurrency=2)
    tag = uuid.uuid4().hex[:8]
    # outer: a fan-out job (two levels: a batch of two fan-outs, each a batch of two 0.5 s
    # children) and a plain child. The fan-out jobs end at once; their batches outlive them.
    outer = run_batch(
        [FanOutJob(f"{tag}-a", width=2, seconds=0.5, depth=2), BatchChildJob(0)],
        then=BatchThenJob(f"{tag}-outer"),
    )
    outer.wait(90)
    wait_for(lambda: _then_runs(f"{tag}-outer"), 30, "the outer then")
    (a,) = JobBatch.objects.filter(parent_uuid=outer.uuid)
    inner = list(JobBatch.objects.filter(parent_uuid=a.uuid))
    assert len(inner) == 2 and all(b.done for b in inner)
    for child, parent in [(inner[0], a), (inner[1], a), (a, outer)]:
        then = JobResult.objects.get(root_uuid=child.then_root_uuid)
        assert then.status == S.SUCCESSFUL and then.batch_uuid == parent.uuid
        assert then.ended_at <= JobBatch.objects.get(pk=parent.pk).completed_at
    for then_tag in (f"{tag}-a-0", f"{tag}-a-1", f"{tag}-a", f"{tag}-outer"):
        assert len(_then_runs(then_tag)) == 1, then_tag  # each then exactly once
    # The outer then sees its children: the fan-out, the plain child and the nested then.
    counts = _then_runs(f"{tag}-outer")[0][1]
    assert (counts["succeeded"], counts["waiting"], counts["running"]) == (3, 0, 0)
    assert JobBatch.objects.get(pk=outer.pk).total == 3


def test_cancelling_a_batch_leaves_no_child_running(start_worker_process, celery_app, fresh_queue):
    start_worker_process(concurrency=2)
    tag = uuid.uuid4().hex[:8]
    # Two run; two wait on a queue no worker consumes (on the filesystem transport a backlog
    # behind the running ones keeps Celery's revoke from reaching the worker: see the notes).
    idle = fresh_queue()
    batch = run_batch(
        [BatchChildJob(i, seconds=60, queue="default" if i < 2 else idle) for i in range(4)],
        then=BatchThenJob(tag),
    )
    wait_for(lambda: JobProcess.objects.filter(batch_uuid=batch.uuid).count() == 2, 30, "2 run")

    assert batch.cancel() == 4  # the running ones through Celery's revoke (celery_app's)
    batch.wait(30)
    assert not JobProcess.objects.filter(batch_uuid=batch.uuid).exists()
    assert not JobRequest.objects.filter(batch_uuid=batch.uuid).exists()
    statuses = JobResult.objects.filter(batch_uuid=batch.uuid).values_list("status", flat=True)
    assert sorted(statuses) == [S.CANCELLED] * 4
    wait_for(lambda: _then_runs(tag), 30, "then to run")
    assert _then_runs(tag)[0][1]["cancelled"] == 4
