"""Where and when a job runs: only on workers consuming its queue, and not before its delay."""

from __future__ import annotations

import os
import time

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob, RecordStartJob

pytestmark = pytest.mark.worker


def test_a_job_runs_only_on_a_worker_that_consumes_its_queue(
    start_inprocess_worker, start_worker_process, fresh_queue
):
    served, elsewhere = fresh_queue(), fresh_queue()
    start_inprocess_worker([served])
    waiting = NoopJob("elsewhere", queue=elsewhere).run_in_worker()  # its default_queue()
    assert waiting.queue == elsewhere

    later = NoopJob("served", queue=served).run_in_worker().wait(timeout=30)
    assert later.return_value == "served"
    # Enqueued first, yet still waiting: no worker consumes its queue.
    assert JobRequest.objects.filter(job_request_uuid=waiting.job_request_uuid).exists()
    assert not JobProcess.objects.exists()
    assert not JobResult.objects.filter(job_request_uuid=waiting.job_request_uuid).exists()

    start_worker_process(queues=[elsewhere])
    result = waiting.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "elsewhere"
    assert result.queue == elsewhere
    assert result.pid != os.getpid()  # the subprocess ran it, not the embedded worker


def test_a_delayed_job_does_not_start_before_its_delay_and_starts_soon_after(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    enqueued = time.time()
    request = RecordStartJob("delayed", queue=queue).run_in_worker(delay=2)
    assert abs((request.start_at - request.created_at).total_seconds() - 2) < 0.05

    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert 2.0 <= result.return_value["started"] - enqueued < 5
    assert result.started_at >= request.start_at
    assert (result.started_at - request.created_at).total_seconds() < 5
