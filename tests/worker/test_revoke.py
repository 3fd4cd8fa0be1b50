"""Celery's revoke, from Flower, `celery control` or `app.control`, is a jobkit cancel."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import ROOT, wait_for
from tests.flower import running_flower
from tests.jobs import NoopJob, SleepFirstAttemptJob, SleepThenFailJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def celery_control(env: dict[str, str], node: str, *args: str) -> str:
    """`celery control ...` as a user runs it, naming the worker so it returns on its reply."""
    command = [sys.executable, "-m", "celery", "-A", "example_project", "control"]
    command += ["--timeout", "20", "--destination", node, *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def revoke(tool: str, task_id: str, terminate: bool, worker: Any, app: Any, env: Any, flower: Any):
    """Revoke as a user of `tool` would."""
    if tool == "flower":
        query = "?terminate=true" if terminate else ""
        status, body = flower.call("POST", f"/api/task/revoke/{task_id}{query}")
        assert status == 200, body
    elif tool == "celery control":
        if terminate:
            celery_control(env, node(worker), "terminate", "SIGTERM", task_id)
        else:
            celery_control(env, node(worker), "revoke", task_id)
    else:
        app.control.revoke(task_id, terminate=terminate)


def node(worker: Any) -> str:
    return str(worker.name.replace("%h", socket.gethostname()))


def running(uuid: Any) -> JobProcess:
    return wait_for(
        lambda: JobProcess.objects.filter(job_request_uuid=uuid).first(), 30, "the job to start"
    )


@pytest.fixture
def flower_if(request: Any, tmp_path: Path, test_database_env: dict[str, str]) -> Any:
    """Real Flower when the test's tool is Flower, else None."""
    tool = request.node.callspec.params["tool"]
    if tool != "flower":
        yield None
        return
    with running_flower(tmp_path, test_database_env) as flower:
        yield flower


TOOLS = ["flower", "celery control", "app.control"]


@pytest.mark.parametrize("tool", TOOLS)
def test_revoke_with_terminate_of_a_running_job_records_cancelled_and_never_retries(
    tool, flower_if, start_worker_process, celery_app, test_database_env
):
    worker = start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=3).run_in_worker()
    running(request.uuid)

    revoke(tool, str(request.uuid), True, worker, celery_app, test_database_env, flower_if)

    result = request.wait(timeout=20)
    assert [r.status for r in result.attempts()] == [S.CANCELLED]
    assert result.error == "cancelled while running"
    assert result.retry_job_request_uuid is None
    assert result.duration < 20
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{request.uuid}") == S.CANCELLED, 10, "on_aborted")
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()
    assert NoopJob("next").run_in_worker().wait(30).return_value == "next"
    assert "its worker child was stopped" not in worker.output()


@pytest.mark.parametrize("tool", TOOLS)
def test_revoke_of_a_waiting_job_cancels_it_and_it_never_runs_after_restart_and_sweep(
    tool, flower_if, start_worker_process, fresh_queue, celery_app, test_database_env
):
    # Its message sits in a queue no worker consumes yet: only the revoke can stop it.
    queue = fresh_queue()
    worker = start_worker_process(concurrency=1)
    waiting = SleepFirstAttemptJob(0).run_in_worker(queue=queue)
    assert JobRequest.objects.get(job_request_uuid=waiting.uuid).sent_at is not None

    revoke(tool, str(waiting.uuid), False, worker, celery_app, test_database_env, flower_if)

    # Cancelled as the revoke arrives, not when (or if) its message is discarded.
    result = wait_for(
        lambda: JobResult.objects.filter(job_request_uuid=waiting.uuid).first(),
        10,
        "the revoked request's result",
    )
    assert result.status == S.CANCELLED
    assert result.error == "revoked before it started"
    wait_for(lambda: "revoke: 1 waiting job(s) cancelled" in worker.output(), 10, "its log")
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{waiting.uuid}") == S.CANCELLED, 10, "on_aborted")
    assert not JobRequest.objects.filter(job_request_uuid=waiting.uuid).exists()

    # Another worker (Celery's revoked set is not carried over) takes the message; swept too.
    worker.stop()
    start_worker_process(queues=["default", queue], concurrency=1)
    Sweeper().sweep()
    assert NoopJob("after", queue=queue).run_in_worker().wait(30).return_value == "after"
    assert [r.status for r in JobResult.objects.filter(job_request_uuid=waiting.uuid)] == [
        S.CANCELLED
    ]
    assert (
        not JobResult.objects.filter(job_class="tests.jobs.SleepFirstAttemptJob")
        .exclude(status=S.CANCELLED)
        .exists()
    )


def test_revoke_without_terminate_lets_a_running_job_end_but_a_failure_is_not_retried(
    start_worker_process, celery_app, test_database_env
):
    worker = start_worker_process(concurrency=1)
    request = SleepThenFailJob(3, retries=3).run_in_worker()
    running(request.uuid)

    celery_control(test_database_env, node(worker), "revoke", str(request.uuid))
    wait_for(
        lambda: JobProcess.objects.filter(
            job_request_uuid=request.uuid, cancel_requested_at__isnull=False
        ).exists(),
        10,
        "the running job to be marked for cancel",
    )

    result = request.wait(timeout=30)
    assert [r.status for r in result.attempts()] == [S.CANCELLED]
    assert result.error == "cancelled while running; then RuntimeError: failed after sleeping"
    assert "failed after sleeping" in result.traceback
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{request.uuid}") == S.CANCELLED, 10, "on_aborted")
    assert not JobRequest.objects.exists()


def test_terminate_with_sigkill_is_cancelled_too(start_worker_process, celery_app):
    # The child cannot record anything: its worker's child check finds it gone, marked.
    start_worker_process(concurrency=1)
    request = SleepFirstAttemptJob(60, retries=3).run_in_worker()
    running(request.uuid)

    celery_app.control.revoke(str(request.uuid), terminate=True, signal="SIGKILL")

    result = request.wait(timeout=20)
    assert [r.status for r in result.attempts()] == [S.CANCELLED]
    assert result.retry_job_request_uuid is None
    # on_aborted runs once the result is committed: wait for it.
    wait_for(lambda: cache.get(f"aborted-{request.uuid}") == S.CANCELLED, 10, "on_aborted")
    assert NoopJob("next").run_in_worker().wait(30).return_value == "next"
