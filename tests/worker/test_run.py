"""A real worker runs jobs: claim, run, record, and the request/process rows are gone after."""

from __future__ import annotations

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob

pytestmark = pytest.mark.worker


def test_inprocess_worker_runs_a_job_and_records_its_result(inprocess_worker):
    request = NoopJob({"answer": 42}).run_in_worker()
    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == {"answer": 42}
    assert result.job_request_uuid == request.job_request_uuid
    assert not JobRequest.objects.exists()
    assert not JobProcess.objects.exists()


def test_worker_subprocess_runs_a_job(start_worker_process):
    start_worker_process(queues=["default"], concurrency=2)
    request = NoopJob("hello").run_in_worker()
    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "hello"
    assert result.pid and result.host and result.worker_name.startswith("w")
    assert result.celery_task_id == str(request.job_request_uuid)
