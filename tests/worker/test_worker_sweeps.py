"""The guarantees need only a live worker: no beat, and Celery's default queue left as is.

Every worker here runs a project whose settings lack CELERY_TASK_DEFAULT_QUEUE (so beat's
sweeps would go to Celery's `celery` queue) and consumes `-Q default` only; nothing in these
tests calls the sweeper: the workers' main processes sweep by themselves.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import pytest
from django.test import override_settings

from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from tests.conftest import ROOT, publishing_to, wait_for
from tests.jobs import NoopJob, RecordStartJob, SleepFirstAttemptJob, SlowJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status

#: Celery's own default queue ("celery"), as a project that never set it has.
PLAIN_PROJECT = {"JOBKIT_TEST_NO_DEFAULT_QUEUE": "1"}


def running(request: JobRequest) -> JobProcess:
    return wait_for(
        lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).first(),
        30,
        "the job to start",
    )


def exactly_once(requests: list[JobRequest]) -> bool:
    uuids = [r.job_request_uuid for r in requests]
    statuses = list(
        JobResult.objects.filter(job_request_uuid__in=uuids).values_list("status", flat=True)
    )
    return len(statuses) == len(uuids) and set(statuses) <= {S.SUCCESSFUL}


def test_the_plain_project_s_default_queue_is_celery_s(test_database_env):
    code = (
        "import django; django.setup(); from example_project.celery import app; "
        "print(app.conf.task_default_queue)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**test_database_env, **PLAIN_PROJECT},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.strip() == "celery"  # beat's sweeps would go where `-Q default` never looks


def test_a_sigkilled_worker_s_job_is_lost_and_retried(start_worker_process):
    env = {**PLAIN_PROJECT, "JOBKIT_HEARTBEAT_TIMEOUT": "3"}
    victim = start_worker_process(queues=["default"], env=env)
    request = SleepFirstAttemptJob(60, retries=1).run_in_worker()
    running(request)
    os.killpg(victim.proc.pid, signal.SIGKILL)  # parent and children, no goodbye
    victim.proc.wait(10)
    survivor = start_worker_process(queues=["default"], env=env)
    result = request.wait(timeout=45)  # heartbeat timeout + a sweep or two, and the retry
    attempts = list(result.attempts())
    assert [a.status for a in attempts] == [S.LOST, S.SUCCESSFUL]
    assert "stopped sending heartbeats" in attempts[0].error
    assert result.worker_name.split("@")[0] == survivor.name.split("@")[0]
    assert "none of jobkit's own queues" not in survivor.output()


def test_a_job_enqueued_while_the_broker_was_down_runs_once_it_is_back(
    start_worker_process, private_redis, celery_app, caplog
):
    start_worker_process(
        queues=["default"], env={**PLAIN_PROJECT, "CELERY_BROKER_URL": private_redis.url}
    )
    with publishing_to(celery_app, private_redis.url):
        private_redis.stop()
        with caplog.at_level(logging.WARNING, logger="django_jobkit.publish"):
            request = NoopJob("outbox").run_in_worker()
        assert "will be sent again" in caplog.text  # left unsent, to the sweeper
        private_redis.start()
        assert request.wait(timeout=60).return_value == "outbox"
    assert JobResult.objects.filter(job_request_uuid=request.uuid).count() == 1


def test_a_delayed_job_held_in_the_database_runs_at_its_time(start_worker_process):
    start_worker_process(queues=["default"], env=PLAIN_PROJECT)
    with override_settings(JOBKIT_DELAY_HORIZON=1):
        request = RecordStartJob("later").run_in_worker(delay=3)
    assert JobRequest.objects.get(pk=request.pk).sent_at is None  # waits in the database
    result = request.wait(timeout=30)
    assert result.status == S.SUCCESSFUL
    assert result.started_at >= request.start_at  # never early


def test_redis_restarted_empty_with_jobs_waiting_as_sent_runs_each_once(
    start_worker_process, private_redis, celery_app, fresh_queue
):
    queue = fresh_queue()  # nobody consumes it yet: the messages wait in Redis
    env = {**PLAIN_PROJECT, "CELERY_BROKER_URL": private_redis.url}
    start_worker_process(queues=["default"], env=env)
    with publishing_to(celery_app, private_redis.url):
        requests = [NoopJob(i, queue=queue).run_in_worker() for i in range(20)]
        assert all(JobRequest.objects.get(pk=r.pk).sent_at for r in requests)
        private_redis.stop()
        private_redis.start()  # without persistence: every message is gone
        start_worker_process(queues=[queue], env=env)
        # JOBKIT_RESEND_AFTER is 600 s: only noticing the new Redis brings them back.
        wait_for(lambda: exactly_once(requests), 30, "every job to run once")
    assert not JobRequest.objects.exists()


def test_deleting_the_worker_row_of_a_running_job_loses_nothing(start_worker_process):
    start_worker_process(queues=["default"])
    request = SlowJob(6).run_in_worker()
    running(request)

    def finished_while_rows_are_deleted_and_swept() -> bool:
        JobWorker.objects.all().delete()  # as from the admin, again and again
        Sweeper().sweep()
        return JobResult.objects.filter(job_request_uuid=request.uuid).exists()

    # Longer than a heartbeat interval (0.5 s here) and shorter than the job.
    with override_settings(JOBKIT_HEARTBEAT_TIMEOUT=3):
        wait_for(finished_while_rows_are_deleted_and_swept, 30, "the job to finish")
    result = request.wait(timeout=1)
    assert result.status == S.SUCCESSFUL
    assert result.return_value == 6
    assert not JobResult.objects.filter(status=S.LOST).exists()
    assert not JobRequest.objects.exists()  # no retry either


def test_a_worker_that_consumes_none_of_jobkit_s_queues_says_so(start_worker_process, fresh_queue):
    worker = start_worker_process(queues=[fresh_queue()], env=PLAIN_PROJECT)
    output = worker.output()
    assert "none of jobkit's own queues (default)" in output
