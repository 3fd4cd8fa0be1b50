"""The Celery state of a job, from its rows: what `AsyncResult` and the task's report say."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from celery import states
from celery.exceptions import Retry
from celery.result import AsyncResult

from django_jobkit.exceptions import JobCancelled, JobErrored, JobLost
from django_jobkit.execution.celery_state import report
from django_jobkit.models import JobRequest, JobResult

S = JobResult.Status


def result_row(status: str, *, retry_to: Any = None, **fields: Any) -> JobResult:
    request_uuid = fields.pop("job_request_uuid", uuid.uuid4())
    return JobResult.objects.create(
        job_class="tests.jobs.NoopJob",
        job_request_uuid=request_uuid,
        root_uuid=fields.pop("root_uuid", request_uuid),
        status=status,
        retry_job_request_uuid=retry_to,
        **fields,
    )


@pytest.mark.django_db
def test_lost_is_failure_and_a_waiting_deferral_is_retry(celery_app):
    lost = result_row(S.LOST, error="its worker child (pid 7) died")
    meta = AsyncResult(str(lost.job_request_uuid), app=celery_app)
    assert meta.state == states.FAILURE
    assert isinstance(meta.result, JobLost) and str(meta.result) == "its worker child (pid 7) died"

    next_uuid = uuid.uuid4()
    deferred = result_row(S.DEFERRED, retry_to=next_uuid)
    JobRequest.objects.create(
        job_class="tests.jobs.NoopJob", job_request_uuid=next_uuid, root_uuid=deferred.root_uuid
    )
    assert AsyncResult(str(deferred.job_request_uuid), app=celery_app).state == states.RETRY
    # The next attempt's own id is simply waiting.
    assert AsyncResult(str(next_uuid), app=celery_app).state == states.PENDING


@pytest.mark.django_db
def test_a_chain_whose_next_attempt_rows_are_gone_stays_retry_and_a_loop_ends(celery_app):
    broken = result_row(S.ERRORED, error="RuntimeError: x", retry_to=uuid.uuid4())
    assert AsyncResult(str(broken.job_request_uuid), app=celery_app).state == states.RETRY

    first, second = uuid.uuid4(), uuid.uuid4()
    result_row(S.ERRORED, error="a", job_request_uuid=first, retry_to=second)
    result_row(S.ERRORED, error="b", job_request_uuid=second, root_uuid=first, retry_to=first)
    looped = AsyncResult(str(first), app=celery_app)
    assert looped.state == states.FAILURE and str(looped.result) == "b"


@pytest.mark.django_db
def test_ids_jobkit_does_not_know_go_to_django_celery_results(celery_app):
    assert AsyncResult("not-a-uuid", app=celery_app).state == states.PENDING
    celery_app.backend.store_result("not-a-uuid", {"x": 1}, states.SUCCESS)
    assert AsyncResult("not-a-uuid", app=celery_app).get(timeout=5) == {"x": 1}


def unsaved(status: str, retry_to: Any = None, error: str = "e") -> JobResult:
    return JobResult(status=status, error=error, return_value=[1], retry_job_request_uuid=retry_to)


@pytest.mark.parametrize(
    ("status", "raised"), [(S.ERRORED, JobErrored), (S.LOST, JobLost), (S.CANCELLED, JobCancelled)]
)
def test_the_task_raises_a_final_failure_and_retry_for_a_retried_one(status, raised):
    with pytest.raises(raised, match=r"^e$"):
        report(unsaved(status))
    next_uuid = uuid.uuid4()
    with pytest.raises(Retry, match=f"the next attempt is request {next_uuid}") as retry:
        report(unsaved(status, next_uuid))
    assert isinstance(retry.value.exc, raised)


def test_the_task_returns_the_return_value_of_a_success_and_none_when_nothing_ran():
    assert report(unsaved(S.SUCCESSFUL)) == [1]
    assert report(None) is None
