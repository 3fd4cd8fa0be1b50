"""The sweeper on real rows: sending what never left, lost jobs, unknown classes, pruning."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from django_jobkit.exceptions import InvalidJobParameter
from django_jobkit.execution.heartbeat import WorkerIdentity, check_children
from django_jobkit.execution.runner import claim
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from tests.jobs import EchoJob, NoopJob, SleepFirstAttemptJob

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timezone.now() - dt.timedelta(hours=1)


class FakeTaskRequest:  # the two attributes a claim reads from Celery's task request
    hostname = "w1@test"
    id = "task-1"


def claimed(request: JobRequest, **changes) -> JobProcess:
    process = claim(str(request.job_request_uuid), FakeTaskRequest())
    JobProcess.objects.filter(pk=process.pk).update(**changes)
    process.refresh_from_db()
    return process


def test_far_delays_wait_in_the_database_until_due():
    near = NoopJob().run_in_worker(delay=5)
    far = NoopJob().run_in_worker(delay=3600)
    assert JobRequest.objects.get(pk=near.pk).sent_at is not None
    assert JobRequest.objects.get(pk=far.pk).sent_at is None
    assert Sweeper().send_waiting() == (0, 0)  # not due yet
    JobRequest.objects.filter(pk=far.pk).update(start_at=timezone.now())
    assert Sweeper().send_waiting() == (1, 0)
    assert JobRequest.objects.get(pk=far.pk).sent_at is not None
    assert Sweeper().send_waiting() == (0, 0)  # sent once, not at every sweep


def test_unsent_requests_are_sent_and_long_unclaimed_ones_sent_again():
    unsent = NoopJob().run_in_worker()
    forgotten = NoopJob().run_in_worker()
    fresh = NoopJob().run_in_worker()
    JobRequest.objects.filter(pk=unsent.pk).update(sent_at=None)
    JobRequest.objects.filter(pk=forgotten.pk).update(sent_at=LONG_AGO)
    with override_settings(JOBKIT_RESEND_AFTER=60):
        assert Sweeper().send_waiting() == (2, 0)
    assert JobRequest.objects.get(pk=fresh.pk).sent_at == fresh.sent_at


def test_a_request_for_an_unknown_job_class_ends_errored():
    request = NoopJob().run_in_worker()
    JobRequest.objects.filter(pk=request.pk).update(job_class="gone.jobs.RenamedJob", sent_at=None)
    assert Sweeper().send_waiting() == (0, 1)
    result = JobResult.objects.get(job_request_uuid=request.uuid)
    assert result.status == JobResult.Status.ERRORED
    assert "unknown job class 'gone.jobs.RenamedJob'" in result.error
    assert not JobRequest.objects.exists()


def test_jobs_of_a_silent_worker_become_lost_and_are_retried():
    request = SleepFirstAttemptJob(retries=1).run_in_worker()
    claimed(request, started_at=LONG_AGO, worker_pid=999_999_999)
    assert Sweeper().end_lost() == 1
    lost = JobResult.objects.get()
    assert lost.status == JobResult.Status.LOST
    assert "stopped sending heartbeats" in lost.error
    retry = JobRequest.objects.get()
    assert (retry.retry_attempt, retry.root_uuid) == (1, request.uuid)
    assert lost.retry_job_request_uuid == retry.job_request_uuid
    assert cache.get(f"aborted-{request.uuid}") == JobResult.Status.LOST  # on_aborted ran


def test_a_job_that_is_lost_every_time_stops_after_its_retries():
    request = SleepFirstAttemptJob(retries=2).run_in_worker()
    for _ in range(3):
        claimed(JobRequest.objects.get(), started_at=LONG_AGO, worker_pid=999_999_999)
        assert Sweeper().end_lost() == 1
    assert [r.status for r in JobResult.objects.get(job_request_uuid=request.uuid).attempts()] == [
        JobResult.Status.LOST
    ] * 3
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()


def test_a_long_job_on_a_live_worker_is_never_lost():
    request = NoopJob().run_in_worker()
    process = claimed(request, started_at=LONG_AGO - dt.timedelta(days=30), worker_pid=os.getpid())
    me = WorkerIdentity(name="w1@test", queues=["default"], pid=os.getpid())
    assert check_children(me) == 0  # the heartbeat finds its process alive and vouches for it
    assert JobProcess.objects.get(pk=process.pk).heartbeat_at is not None
    JobWorker.objects.all().delete()  # the worker rows do not matter, the stamp does
    assert Sweeper().end_lost() == 0
    assert JobProcess.objects.filter(pk=process.pk).exists()


def test_a_cancel_requested_before_the_worker_died_is_recorded_cancelled():
    request = SleepFirstAttemptJob(retries=3).run_in_worker()
    claimed(request, started_at=LONG_AGO, worker_pid=999_999_999, cancel_requested_at=LONG_AGO)
    Sweeper().end_lost()
    result = JobResult.objects.get()
    assert result.status == JobResult.Status.CANCELLED
    assert not JobRequest.objects.exists()  # cancelled jobs are not retried


def test_cancel_a_waiting_request():
    request = SleepFirstAttemptJob(retries=3).run_in_worker(delay=3600)
    result = request.cancel()
    assert result.status == JobResult.Status.CANCELLED
    assert not JobRequest.objects.exists()
    assert cache.get(f"aborted-{request.uuid}") == JobResult.Status.CANCELLED
    assert request.cancel() is None  # already gone


def test_old_results_and_long_gone_workers_are_pruned_in_batches():
    for _ in range(5):
        NoopJob().run_in_worker().cancel()
    JobResult.objects.filter(
        pk__in=list(JobResult.objects.values_list("pk", flat=True)[:3])
    ).update(ended_at=LONG_AGO - dt.timedelta(days=8))
    JobWorker.objects.create(name="old", host="h", pid=1, last_seen=LONG_AGO - dt.timedelta(days=1))
    JobWorker.objects.create(name="new", host="h", pid=2)
    with override_settings(JOBKIT_SWEEP_BATCH_SIZE=2):
        assert Sweeper().prune() == (3, 1)
    assert JobResult.objects.count() == 2
    assert list(JobWorker.objects.values_list("name", flat=True)) == ["new"]


def test_oversized_parameters_are_refused_at_enqueue():
    with (
        override_settings(JOBKIT_MAX_PARAMETERS_BYTES=100),
        pytest.raises(InvalidJobParameter, match="JOBKIT_MAX_PARAMETERS_BYTES"),
    ):
        EchoJob("x" * 200).run_in_worker()
    assert not JobRequest.objects.exists()


def test_lock_rows_not_taken_for_a_day_are_pruned():
    from django_jobkit.models import JobLock

    JobLock.objects.create(key="old", locked_at=LONG_AGO - dt.timedelta(days=2))
    JobLock.objects.create(key="recent")
    Sweeper().prune()
    keys = set(JobLock.objects.values_list("key", flat=True))
    assert "old" not in keys and "recent" in keys
