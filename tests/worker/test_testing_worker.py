"""`django_jobkit.testing`'s worker fixture: a real Celery worker for a project's test."""

from __future__ import annotations

import os

import pytest

from django_jobkit.models import JobResult
from tests.jobs import FailOnceJob, NoopJob

pytestmark = pytest.mark.worker


def test_the_worker_fixture_runs_jobs_on_a_real_worker(jobkit_worker):
    request = NoopJob("worker").run_in_worker()
    result = request.wait(30)
    assert (result.status, result.return_value) == (JobResult.Status.SUCCESSFUL, "worker")
    assert result.pid == os.getpid()  # the embedded worker: a thread of the test's process
    assert jobkit_worker.hostname.endswith(result.worker_name)  # the task request's hostname
    assert FailOnceJob().run_in_worker().wait(30).return_value == "ok"  # retried by the worker
