"""`django_jobkit.testing`, the helpers for projects' own tests, as a project uses them: what
waits, running what waits (retries and delays followed), and the eager fixture."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from django_jobkit.enqueue import pauses
from django_jobkit.models import JobRequest, JobResult
from django_jobkit.testing import (
    assert_enqueued,
    assert_not_enqueued,
    enqueued_jobs,
    run_waiting_jobs,
)
from tests.jobs import FailOnceJob, LimitedJob, NoopJob, UsernameJob

S = JobResult.Status


@pytest.mark.django_db
def test_assert_enqueued_matches_class_queue_and_arguments_and_says_what_waits():
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    UsernameJob(alice).run_in_worker()
    NoopJob(1, queue="slow").run_in_worker(queue="slow")
    NoopJob(2).run_in_worker()

    (request,) = assert_enqueued(UsernameJob, user=alice)
    assert request.job_class == "tests.jobs.UsernameJob"
    assert_enqueued("tests.jobs.NoopJob", count=2)
    assert_enqueued(NoopJob, queue="slow", value=1)
    assert_not_enqueued(UsernameJob, user=bob)
    assert len(enqueued_jobs()) == 3

    with pytest.raises(AssertionError) as failure:
        assert_enqueued(NoopJob, value=3)
    message = str(failure.value)
    assert "expected tests.jobs.NoopJob waiting with {'value': 3}, found 0" in message
    assert "tests.jobs.NoopJob(1, queue='slow') on slow" in message  # what does wait
    assert "tests.jobs.UsernameJob(<User: alice>) on default" in message
    with pytest.raises(AssertionError, match=r"expected 1 tests\.jobs\.NoopJob waiting, found 2"):
        assert_enqueued(NoopJob, count=1)
    with pytest.raises(AssertionError, match=r"expected no tests\.jobs\.UsernameJob waiting"):
        assert_not_enqueued(UsernameJob)


@pytest.mark.django_db
def test_run_waiting_jobs_runs_what_is_due_and_follows_retries_inside_the_tests_transaction():
    first = FailOnceJob().run_in_worker()
    later = NoopJob("later").run_in_worker(delay=3600)
    results = run_waiting_jobs()
    # The first attempt failed and was retried at once: both attempts ran, as a worker runs them.
    assert [r.status for r in results] == [S.ERRORED, S.SUCCESSFUL]
    assert results[0].job_request_uuid == first.job_request_uuid
    assert first.wait(1).return_value == "ok"
    assert JobRequest.objects.filter(pk=later.pk).exists()  # delayed: still waits

    (ran,) = run_waiting_jobs(include_delayed=True)
    assert (ran.job_request_uuid, ran.return_value) == (later.job_request_uuid, "later")
    assert run_waiting_jobs() == []
    assert not JobRequest.objects.exists()


@pytest.mark.django_db
def test_run_waiting_jobs_leaves_what_production_would_hold(fresh_queue):
    queue = fresh_queue()
    held = LimitedJob("k-testing").run_in_worker(queue=queue)
    waiting = LimitedJob("k-testing", tag="second").run_in_worker(queue=queue)
    first, second = run_waiting_jobs(queue=queue)  # the second waits for the first's slot,
    assert first.job_request_uuid == held.job_request_uuid  # which its end gave it
    assert (second.job_request_uuid, second.return_value) == (waiting.job_request_uuid, "second")
    assert second.started_at >= first.ended_at

    paused = fresh_queue()
    pauses.pause(paused)
    NoopJob(1, queue=paused).run_in_worker(queue=paused)
    assert run_waiting_jobs(queue=paused) == []
    pauses.resume(paused)
    assert [r.return_value for r in run_waiting_jobs(queue=paused)] == [1]


@pytest.mark.django_db(transaction=True)
def test_the_eager_fixture_runs_each_job_as_its_transaction_commits(jobkit_eager):
    with transaction.atomic():
        request = NoopJob("now").run_in_worker()
        assert JobRequest.objects.filter(pk=request.pk).exists()  # not before the commit
    result = JobResult.objects.get(job_request_uuid=request.job_request_uuid)
    assert (result.status, result.return_value) == (S.SUCCESSFUL, "now")
    assert_not_enqueued(NoopJob)
