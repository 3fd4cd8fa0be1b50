"""What a finished job leaves behind, and how `JobRequest.wait` hands it over."""

from __future__ import annotations

import os
import socket
import time

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import FailingJob, NoopJob

pytestmark = pytest.mark.worker


def test_results_record_value_error_timings_and_where_the_job_ran(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    worker = start_inprocess_worker([queue])
    ok_request = NoopJob({"answer": 42, "items": [1, "two", None]}).run_in_worker(queue=queue)
    failed_request = FailingJob("it broke").run_in_worker(queue=queue)

    ok = ok_request.wait(timeout=30)
    failed = failed_request.wait(timeout=30)

    assert ok.status == JobResult.Status.SUCCESSFUL
    assert ok.return_value == {"answer": 42, "items": [1, "two", None]}
    assert ok.error == "" and ok.traceback == ""
    assert failed.status == JobResult.Status.ERRORED
    assert failed.return_value is None
    assert failed.error == "RuntimeError: it broke"
    assert failed.traceback.startswith("Traceback (most recent call last):")
    assert "tests/jobs.py" in failed.traceback and "in run" in failed.traceback
    assert failed.traceback.rstrip().endswith("RuntimeError: it broke")

    for request, result in [(ok_request, ok), (failed_request, failed)]:
        assert result.job_request_uuid == result.root_uuid == request.job_request_uuid
        assert result.created_at == request.created_at
        assert request.created_at <= result.started_at <= result.ended_at
        assert result.duration == (result.ended_at - result.started_at).total_seconds()
        # The embedded worker runs in this very process. (Its task requests carry the machine's
        # name rather than the node name: Celery's trace path for embedded workers; see
        # test_crashes.py for a worker subprocess's node name.)
        assert (result.host, result.pid) == (socket.gethostname(), os.getpid())
        assert result.worker_name in (worker.hostname, socket.gethostname())
        assert result.celery_task_id == str(request.job_request_uuid)
        assert result.job_process_uuid is not None
        assert result.retry_job_request_uuid is None

    assert not JobRequest.objects.exists()
    assert not JobProcess.objects.exists()
    assert JobResult.objects.count() == 2


def test_wait_raises_timeout_error_while_no_worker_consumes_the_queue(db, fresh_queue):
    request = NoopJob().run_in_worker(queue=fresh_queue())
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=str(request.job_request_uuid)):
        request.wait(timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 5
    assert JobRequest.objects.filter(job_request_uuid=request.job_request_uuid).exists()
    assert not JobResult.objects.exists()
