"""A jobkit message Celery discards as revoked cancels its request (the `task_revoked` path,
for revokes the worker's hook did not see: a `--statedb` revoked set, an expired message)."""

from __future__ import annotations

import pytest
from celery.app.task import Context
from celery.signals import task_revoked

from django_jobkit.execution.tasks import sweep, task_for
from django_jobkit.models import JobRequest, JobResult
from tests.jobs import NoopJob


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("expired", "error"),
    [(False, "revoked before it started"), (True, "its message expired before it started")],
)
def test_a_discarded_job_message_cancels_its_waiting_request(expired, error, fresh_queue):
    request = NoopJob(1, queue=fresh_queue()).run_in_worker()
    task = task_for("tests.jobs.NoopJob")
    task_revoked.send(
        sender=task, request=Context(id=str(request.uuid)), terminated=False, expired=expired
    )
    result = JobResult.objects.get(job_request_uuid=request.uuid)
    assert (result.status, result.error) == (JobResult.Status.CANCELLED, error)
    assert not JobRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_discarded_message_of_another_task_or_a_terminated_job_changes_nothing(fresh_queue):
    request = NoopJob(1, queue=fresh_queue()).run_in_worker()
    context = Context(id=str(request.uuid))
    task_revoked.send(sender=sweep, request=context, terminated=False, expired=False)
    task_revoked.send(
        sender=task_for("tests.jobs.NoopJob"), request=context, terminated=True, expired=False
    )
    assert JobRequest.objects.filter(job_request_uuid=request.uuid).exists()
    assert not JobResult.objects.exists()
