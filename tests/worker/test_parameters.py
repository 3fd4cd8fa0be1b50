"""Model instances travel as references and are fetched again by the worker."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User

from django_jobkit.models import JobRequest, JobResult
from tests.jobs import NoopJob, UsernameJob

pytestmark = pytest.mark.worker


def test_a_model_argument_is_fetched_again_and_a_deleted_one_fails_without_retry(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    renamed = User.objects.create(username="before")
    deleted = User.objects.create(username="deleted")
    renamed_request = UsernameJob(renamed).run_in_worker(queue=queue)
    deleted_request = UsernameJob(deleted, retries=3).run_in_worker(queue=queue)
    assert "before" not in json.dumps(renamed_request.parameters)  # a reference, not a copy
    User.objects.filter(pk=renamed.pk).update(username="after")
    deleted_pk = deleted.pk
    deleted.delete()

    start_inprocess_worker([queue])

    fetched = renamed_request.wait(timeout=30)
    assert fetched.status == JobResult.Status.SUCCESSFUL
    assert fetched.return_value == {"pk": renamed.pk, "username": "after"}

    missing = deleted_request.wait(timeout=30)
    assert missing.status == JobResult.Status.ERRORED
    assert missing.error.startswith("ReferencedObjectMissing: ")
    assert f"auth.User with pk={deleted_pk} no longer exists" in missing.error
    assert "\n" not in missing.error  # a permanent error: no retry was even attempted
    assert missing.retries == 3 and missing.retry_attempt == 0
    assert missing.retry_job_request_uuid is None  # retrying cannot bring the row back
    assert list(missing.attempts()) == [missing]
    assert not JobRequest.objects.exists()

    still_serving = NoopJob("fine", queue=queue).run_in_worker().wait(timeout=30)
    assert still_serving.status == JobResult.Status.SUCCESSFUL
