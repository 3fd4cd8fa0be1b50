"""A message for a job class no worker knows is recorded ERRORED at once, not after a resend."""

from __future__ import annotations

import time
import uuid

import pytest
from django.utils import timezone

from django_jobkit.conf import jobkit_settings
from django_jobkit.models import JobRequest, JobResult
from tests.conftest import wait_for
from tests.jobs import NoopJob

pytestmark = pytest.mark.worker


def test_a_request_whose_class_the_worker_does_not_know_is_errored_within_seconds(
    start_worker_process, celery_app
):
    worker = start_worker_process(concurrency=1)
    request_uuid = uuid.uuid4()
    # As left by code that was deployed to the web processes but not to the workers.
    JobRequest.objects.create(
        job_class="tests.jobs.NotDeployedJob",
        job_request_uuid=request_uuid,
        root_uuid=request_uuid,
        retries=3,
        sent_at=timezone.now(),
    )
    sent = time.monotonic()
    celery_app.send_task(
        "tests.jobs.NotDeployedJob", args=[str(request_uuid)], task_id=str(request_uuid)
    )

    result = wait_for(
        lambda: JobResult.objects.filter(job_request_uuid=request_uuid).first(),
        15,
        "the unknown job's result",
    )
    assert time.monotonic() - sent < 15 < jobkit_settings.RESEND_AFTER
    assert result.status == JobResult.Status.ERRORED
    assert result.error.startswith("UnknownJobClass: unknown job class 'tests.jobs.NotDeployedJob'")
    assert result.retry_job_request_uuid is None  # not retried: it would fail the same way
    assert not JobRequest.objects.exists()
    assert "Received unregistered task of type 'tests.jobs.NotDeployedJob'" in worker.output()
    # The worker logs the line after the row is committed: wait for it rather than race it.
    wait_for(
        lambda: (
            f"(request {request_uuid}, task tests.jobs.NotDeployedJob): recorded ERRORED"
            in worker.output()
        ),
        10,
        "the worker's log line for the unknown job",
    )
    assert NoopJob("next").run_in_worker().wait(30).return_value == "next"
