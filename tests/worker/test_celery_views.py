"""Celery's own views of a job agree with jobkit's records: worker log, events (Flower) and
`AsyncResult(<request uuid>)` through the README's result backend."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from celery import states
from celery.exceptions import TaskRevokedError
from celery.result import AsyncResult

from django_jobkit.exceptions import JobErrored
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import broker_kind, wait_for
from tests.flower import running_flower
from tests.jobs import FailingJob, NoopJob, SlowJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def flower_task(flower: Any, task_id: Any, state: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        code, body = flower.call("GET", f"/api/task/info/{task_id}")
        return body if code == 200 and body.get("state") == state else None

    return wait_for(seen, 30, f"Flower to show {task_id} {state}")


def run_three(celery_app: Any, worker: Any) -> tuple[Any, Any, Any, Any]:
    """A success, a final failure, and a failure retried once into another failure."""
    ok = NoopJob(5).run_in_worker()
    failing = FailingJob("boom").run_in_worker()
    retried = FailingJob("again", retries=1).run_in_worker()
    assert ok.wait(30).status == S.SUCCESSFUL
    assert failing.wait(30).status == S.ERRORED
    last = retried.wait(30)
    assert [r.status for r in last.attempts()] == [S.ERRORED, S.ERRORED]
    return ok, failing, retried, last.job_request_uuid


def test_the_worker_log_reports_errored_jobs_as_failures_and_retries_as_retries(
    start_worker_process, celery_app
):
    worker = start_worker_process(concurrency=1)
    ok, failing, retried, retry_uuid = run_three(celery_app, worker)

    task = "Task tests.jobs.FailingJob"
    last_line = f"{task}[{retry_uuid}] raised expected: JobErrored('RuntimeError: again')\n"
    # Celery logs a task's outcome after the task returns, so after jobkit committed its result.

    def logged() -> str:
        out = worker.output()
        return out if last_line in out else ""

    log = wait_for(logged, 30, last_line)
    assert re.search(rf"Task tests\.jobs\.NoopJob\[{ok.uuid}\] succeeded in [0-9.]+s: 5\n", log)
    assert f"{task}[{failing.uuid}] raised expected: JobErrored('RuntimeError: boom')\n" in log
    assert f"{task}[{retried.uuid}] retry: ERRORED: RuntimeError: again; the next " in log
    for request_uuid in (failing.uuid, retried.uuid, retry_uuid):
        assert f"[{request_uuid}] succeeded" not in log
    assert "Traceback" not in log
    # Reported, not acted on: nothing was retried, rejected or delivered again by Celery.
    assert JobResult.objects.count() == 4
    # (Counted per task id: the shared `default` queue may still hold other tests' messages.)
    for request_uuid in (ok.uuid, failing.uuid, retried.uuid, retry_uuid):
        assert log.count(f"[{request_uuid}] received\n") == 1


def test_events_and_flower_show_errored_jobs_as_failed_and_retries_as_retried(
    start_worker_process, celery_app, tmp_path, test_database_env
):
    if broker_kind() == "filesystem":
        pytest.skip("kombu's filesystem transport does not carry events between processes")
    with running_flower(tmp_path, test_database_env) as flower:
        worker = start_worker_process(concurrency=1, env={"JOBKIT_TEST_TASK_EVENTS": "1"})
        ok, failing, retried, retry_uuid = run_three(celery_app, worker)

        assert flower_task(flower, ok.uuid, "SUCCESS")["result"] == "5"
        failed = flower_task(flower, failing.uuid, "FAILURE")
        assert failed["exception"] == "JobErrored('RuntimeError: boom')"
        flower_task(flower, retried.uuid, "RETRY")
        assert flower_task(flower, retry_uuid, "FAILURE")["exception"] == (
            "JobErrored('RuntimeError: again')"
        )


def test_async_result_follows_the_job_through_its_rows(
    start_worker_process, celery_app, fresh_queue
):
    def result(task_id: Any) -> AsyncResult:
        return AsyncResult(str(task_id), app=celery_app)

    # A job no worker consumes yet is PENDING; anything else jobkit does not know is
    # django-celery-results' to answer.
    queue = fresh_queue()
    waiting = NoopJob("w", queue=queue).run_in_worker()
    assert result(waiting.uuid).state == states.PENDING
    other = str(uuid.uuid4())
    assert result(other).state == states.PENDING
    celery_app.backend.store_result(other, 42, states.SUCCESS)
    assert result(other).get(timeout=5) == 42

    start_worker_process(queues=["default", queue], concurrency=1)
    assert result(waiting.uuid).get(timeout=30) == "w"
    assert result(waiting.uuid).state == states.SUCCESS

    slow = SlowJob(30).run_in_worker()
    wait_for(lambda: result(slow.uuid).state == states.STARTED, 30, "STARTED")
    assert result(slow.uuid).info["pid"] == JobProcess.objects.get().pid
    JobProcess.objects.get().cancel()
    with pytest.raises(TaskRevokedError, match="cancelled while running"):
        result(slow.uuid).get(timeout=30)
    assert result(slow.uuid).state == states.REVOKED

    failing = FailingJob("boom").run_in_worker()
    with pytest.raises(JobErrored, match=r"^RuntimeError: boom$"):
        result(failing.uuid).get(timeout=30)
    assert result(failing.uuid).state == states.FAILURE
    assert "raise RuntimeError(self.message)" in result(failing.uuid).traceback

    # Retries are followed: RETRY while the next attempt waits, then the last attempt's state.
    retried = FailingJob("again", retries=1, delay=60).run_in_worker()
    wait_for(lambda: result(retried.uuid).state == states.RETRY, 30, "RETRY")
    assert isinstance(result(retried.uuid).info, JobErrored)
    next_attempt = JobRequest.objects.get(root_uuid=retried.uuid)
    assert next_attempt.cancel() is not None
    assert result(retried.uuid).state == states.REVOKED
    with pytest.raises(TaskRevokedError, match="cancelled before it started"):
        result(retried.uuid).get(timeout=5)
