"""JOBKIT_MIDDLEWARE wraps each run in the worker, outermost first, read for every run."""

from __future__ import annotations

import os

import pytest
from django.test import override_settings

from django_jobkit.models import JobResult
from tests.jobs import FailingJob, NoopJob

pytestmark = pytest.mark.worker


def test_middleware_wraps_runs_in_the_worker_and_sees_their_value_and_errors(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    plain = NoopJob("plain", queue=queue).run_in_worker().wait(timeout=30)
    assert plain.return_value == "plain"

    chain = ["tests.middleware.OuterTag", "tests.middleware.InnerTag"]
    with override_settings(JOBKIT_MIDDLEWARE=chain):
        request = NoopJob("value", queue=queue).run_in_worker()
        wrapped = request.wait(timeout=30)
        failed = FailingJob("boom").run_in_worker(queue=queue).wait(timeout=30)

    assert wrapped.status == JobResult.Status.SUCCESSFUL
    seen = {
        "job_class": "tests.jobs.NoopJob",
        "celery_task_id": str(request.job_request_uuid),
        "pid": os.getpid(),
    }
    assert wrapped.return_value == {
        "tag": "outer",
        **seen,
        "inner": {"tag": "inner", **seen, "inner": "value"},
    }
    assert failed.status == JobResult.Status.ERRORED
    assert failed.error == "RuntimeError: outer saw RuntimeError: inner saw RuntimeError: boom"

    after = NoopJob("plain again", queue=queue).run_in_worker().wait(timeout=30)
    assert after.return_value == "plain again"
