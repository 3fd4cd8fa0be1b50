"""Faults against real worker subprocesses: killed children and workers, time limits,
cancellation and warm shutdown. Every committed job must end with exactly the expected results.
"""

from __future__ import annotations

import os
import signal

import pytest
from django.core.cache import cache
from django.test import override_settings

from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import wait_for
from tests.jobs import IgnoresSoftLimitJob, NoopJob, SleepFirstAttemptJob, SlowJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def running(request: JobRequest) -> JobProcess:
    return wait_for(
        lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).first(),
        30,
        "the job to start",
    )


def statuses(result: JobResult) -> list[str]:
    return [attempt.status for attempt in result.attempts()]


def still_serves(worker_queue: str = "default") -> None:
    assert NoopJob("next", queue=worker_queue).run_in_worker().wait(30).return_value == "next"


def test_sigkill_of_a_worker_child_is_lost_then_retried(start_worker_process):
    start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=1).run_in_worker()
    os.kill(running(request).pid, signal.SIGKILL)
    result = request.wait(timeout=30)
    assert statuses(result) == [S.LOST, S.SUCCESSFUL]
    first = result.attempts().first()
    assert "worker child" in first.error and "died" in first.error
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{request.uuid}") == S.LOST, 10, "on_aborted")
    assert not JobProcess.objects.exists() and not JobRequest.objects.exists()
    still_serves()


def test_sigkill_of_the_whole_worker_is_lost_then_retried_elsewhere(start_worker_process):
    worker = start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=1).run_in_worker()
    running(request)
    os.killpg(worker.proc.pid, signal.SIGKILL)  # parent and children, no goodbye
    worker.proc.wait(10)
    with override_settings(JOBKIT_HEARTBEAT_TIMEOUT=2):
        wait_for(lambda: Sweeper().end_lost(), 30, "the sweeper to find the lost job")
    start_worker_process(concurrency=1)
    result = request.wait(timeout=30)
    assert statuses(result) == [S.LOST, S.SUCCESSFUL]
    assert "stopped sending heartbeats" in result.attempts().first().error


def test_soft_time_limit_errors_the_attempt_and_retries_it(start_worker_process):
    start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=1, timeout=1).run_in_worker()
    result = request.wait(timeout=30)
    assert statuses(result) == [S.ERRORED, S.SUCCESSFUL]
    assert result.attempts().first().error == "timed out after 1 s"
    still_serves()


def test_hard_time_limit_kills_a_job_that_ignores_the_soft_one(start_worker_process):
    worker = start_worker_process(concurrency=1)
    request = IgnoresSoftLimitJob().run_in_worker()
    result = request.wait(timeout=30)
    assert result.status == S.ERRORED
    assert result.error == "timed out after 1 s"
    assert result.duration < 20  # stopped at its limit plus grace, not after its own 30 s
    # Recorded by the worker's main process: the child, SIGKILLed 0.1 s after the SIGTERM,
    # does nothing but exit (writing then could leave the pool's result pipe locked for good).
    key = f"failure-recorded-by-{request.uuid}"
    assert wait_for(lambda: cache.get(key), 10, "on_failure") == worker.proc.pid
    still_serves()


def test_cancelling_a_running_job_stops_it_and_does_not_retry(start_worker_process):
    start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=3).run_in_worker()
    process = running(request)
    assert process.cancel() is True
    result = request.wait(timeout=15)
    assert statuses(result) == [S.CANCELLED]
    assert result.duration < 15
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{request.uuid}") == S.CANCELLED, 10, "on_aborted")
    assert not JobRequest.objects.exists()
    still_serves()


def test_warm_shutdown_finishes_running_jobs_and_loses_none_of_the_waiting(start_worker_process):
    worker = start_worker_process(concurrency=1)
    slow = SlowJob(2).run_in_worker()
    running(slow)
    waiting = [NoopJob(i).run_in_worker() for i in range(5)]
    worker.stop()  # SIGTERM to the main process: warm shutdown
    assert JobResult.objects.get(job_request_uuid=slow.uuid).status == S.SUCCESSFUL
    assert not JobProcess.objects.exists()
    # What the worker had accepted it ran; the rest is still waiting, never a terminal result.
    for request in waiting:
        results = JobResult.objects.filter(job_request_uuid=request.uuid)
        pending = JobRequest.objects.filter(job_request_uuid=request.uuid).exists()
        assert [r.status for r in results] == ([] if pending else [S.SUCCESSFUL])
    assert JobRequest.objects.exists(), "prefetch 1, concurrency 1: some jobs stayed queued"
    start_worker_process(concurrency=1)
    for i, request in enumerate(waiting):
        assert request.wait(timeout=30).return_value == i
    assert JobResult.objects.count() == 6


def test_worker_database_connections_killed_between_jobs(start_worker_process):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    start_worker_process(concurrency=1)
    assert NoopJob(1).run_in_worker().wait(timeout=30).return_value == 1
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        killed = cursor.fetchall()
    assert killed, "the worker held no connection to kill"
    assert NoopJob(2).run_in_worker().wait(timeout=30).return_value == 2
    assert NoopJob(3).run_in_worker().wait(timeout=30).return_value == 3
