"""Under a primary/replica router whose replica lags forever, the engine's guarantees hold: every
engine query goes to the write database, while users' own reads keep their routing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.execution.runner import claim
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob

pytestmark = [
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

STALE_REPLICA = override_settings(DATABASE_ROUTERS=["tests.routers.StaleReplicaRouter"])


class TaskRequest:
    hostname = "w1@test"
    id = "task-1"


@STALE_REPLICA
def test_the_replica_is_stale_for_users_reads():
    assert NoopJob().run_in_worker() is not None
    assert not JobRequest.objects.exists()  # routed to the replica: it has no rows
    assert JobRequest.objects.using("default").count() == 1


@STALE_REPLICA
def test_dedup_reads_the_primary():
    first = NoopJob(key="k").run_in_worker()
    assert first is not None
    assert NoopJob(key="k").run_in_worker() is None
    assert JobRequest.objects.using("default").count() == 1


@STALE_REPLICA
def test_dedup_sees_a_running_job_on_the_primary():
    first = NoopJob(key="k").run_in_worker()
    assert first is not None
    assert claim(str(first.job_request_uuid), TaskRequest()) is not None
    assert NoopJob(key="k").run_in_worker() is None


@STALE_REPLICA
def test_claim_and_record_use_the_primary_and_claim_once():
    request = NoopJob(7).run_in_worker()
    assert request is not None
    process = claim(str(request.job_request_uuid), TaskRequest())
    assert process is not None
    assert claim(str(request.job_request_uuid), TaskRequest()) is None  # claimed once
    result = record(process, Outcome(JobResult.Status.SUCCESSFUL, return_value=7))
    assert result is not None
    assert request.wait(timeout=5).return_value == 7  # wait reads the primary too
    assert record(process, Outcome(JobResult.Status.SUCCESSFUL)) is None  # recorded once


@STALE_REPLICA
def test_cancel_and_sweeper_use_the_primary():
    waiting = NoopJob().run_in_worker()
    assert waiting is not None
    cancelled = waiting.cancel()
    assert cancelled is not None and cancelled.status == JobResult.Status.CANCELLED

    running = NoopJob().run_in_worker()
    assert running is not None
    process = claim(str(running.job_request_uuid), TaskRequest())
    assert process is not None
    long_ago = timezone.now() - dt.timedelta(hours=1)
    JobProcess.objects.using("default").filter(pk=process.pk).update(started_at=long_ago)
    unsent = NoopJob().run_in_worker()
    assert unsent is not None
    JobRequest.objects.using("default").filter(pk=unsent.pk).update(sent_at=None)
    report = Sweeper().sweep()
    assert (report.sent, report.lost) == (1, 1)
    lost = JobResult.objects.using("default").get(job_request_uuid=running.job_request_uuid)
    assert lost.status == JobResult.Status.LOST
