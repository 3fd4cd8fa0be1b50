"""Retries and deferrals: every attempt leaves a result, linked to the request it caused."""

from __future__ import annotations

import itertools

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import wait_for
from tests.jobs import BackoffFailingJob, DeferringJob, FailOnceJob

pytestmark = pytest.mark.worker

#: Slack for the few instructions between computing a start time and writing the row.
EPSILON = 0.05


def seconds(later, earlier) -> float:
    return (later - earlier).total_seconds()


def test_errored_attempts_are_retried_after_their_delay_and_chained(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    request = BackoffFailingJob(retries=2).run_in_worker(queue=queue)

    # The second retry waits 2 s (calculate_retry_delay(2)): long enough to see its request.
    second = wait_for(
        lambda: (
            JobResult.objects.filter(root_uuid=request.job_request_uuid, retry_attempt=1)
            .exclude(retry_job_request_uuid=None)
            .first()
        ),
        what="the first retry to fail",
    )
    pending = JobRequest.objects.get(job_request_uuid=second.retry_job_request_uuid)
    assert pending.retry_attempt == 2 and pending.retries == 2
    assert pending.root_uuid == request.job_request_uuid
    assert pending.queue == queue
    assert abs(seconds(pending.start_at, second.ended_at) - 2) < EPSILON

    last = request.wait(timeout=30)
    first = request.wait(timeout=1, follow_retries=False)
    attempts = list(last.attempts())

    assert [a.retry_attempt for a in attempts] == [0, 1, 2]
    assert attempts[0] == first and attempts[1] == second and attempts[2] == last
    assert first.job_request_uuid == request.job_request_uuid
    assert last.retry_job_request_uuid is None  # no retries left
    for earlier, later in itertools.pairwise(attempts):
        assert earlier.retry_job_request_uuid == later.job_request_uuid
    for attempt, delay in zip(attempts, [None, 1, 2], strict=True):
        assert attempt.status == JobResult.Status.ERRORED
        assert attempt.error == "RuntimeError: this attempt failed"
        assert attempt.root_uuid == request.job_request_uuid
        assert attempt.queue == queue and attempt.retries == 2
        if delay is not None:
            previous = attempts[attempt.retry_attempt - 1]
            # The retry's request was written when the previous attempt failed ...
            assert abs(seconds(attempt.created_at, previous.ended_at)) < 0.5
            # ... and the retry ran no earlier than its delay (1-based: 1 s, then 2 s), and soon.
            assert delay - EPSILON <= seconds(attempt.started_at, attempt.created_at) < delay + 3
    assert not JobRequest.objects.exists()
    assert not JobProcess.objects.exists()


def test_a_job_that_fails_once_succeeds_on_retry_and_a_deferral_is_no_failure(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    flaky = FailOnceJob().run_in_worker(queue=queue)
    deferring = DeferringJob(times=1, delay=1).run_in_worker(queue=queue)

    flaky_last = flaky.wait(timeout=30)
    flaky_first = flaky.wait(timeout=1, follow_retries=False)
    assert flaky_first.status == JobResult.Status.ERRORED
    assert flaky_first.error == "RuntimeError: first attempt fails"
    assert flaky_first.retry_job_request_uuid == flaky_last.job_request_uuid
    assert flaky_last.status == JobResult.Status.SUCCESSFUL
    assert flaky_last.return_value == "ok"
    assert flaky_last.retry_attempt == 1
    assert list(flaky_last.attempts()) == [flaky_first, flaky_last]

    done = deferring.wait(timeout=30)
    deferred = deferring.wait(timeout=1, follow_retries=False)
    assert deferred.status == JobResult.Status.DEFERRED
    assert deferred.error == ""
    assert deferred.retry_job_request_uuid == done.job_request_uuid
    assert done.status == JobResult.Status.SUCCESSFUL
    assert done.return_value == "done"
    # Not a failure: the job has no retries at all, and the attempt number did not move.
    assert deferred.retries == done.retries == 0
    assert deferred.retry_attempt == done.retry_attempt == 0
    assert done.root_uuid == deferring.job_request_uuid
    assert 1 - EPSILON <= seconds(done.started_at, done.created_at) < 4
    assert list(done.attempts()) == [deferred, done]
