"""Completion hooks and signals, in a real worker: after the commit, final failures only, and a
hook that raises changes nothing."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache

from django_jobkit.models import JobResult
from tests.conftest import wait_for
from tests.jobs import HookJob, NoopJob

pytestmark = pytest.mark.worker


def _tag() -> str:
    return f"hook-{uuid.uuid4().hex[:12]}"


def test_on_success_and_job_succeeded_run_once_the_result_is_committed(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    tag = _tag()
    result = HookJob(tag).run_in_worker(queue=queue).wait(30)
    assert result.status == JobResult.Status.SUCCESSFUL
    hooks = wait_for(lambda: cache.get(f"hooks-{tag}"), 10, "on_success")
    signals = wait_for(lambda: cache.get(f"signals-{tag}"), 10, "job_succeeded")
    assert hooks == [["on_success", "SUCCESSFUL", 0, True]]
    assert signals == [["job_succeeded", "SUCCESSFUL", 0]]


def test_on_failure_and_job_failed_hear_of_the_last_attempt_only(
    start_inprocess_worker, fresh_queue
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    tag = _tag()
    result = HookJob(tag, fail=True).run_in_worker(queue=queue, retries=2).wait(30)
    assert result.status == JobResult.Status.ERRORED and result.retry_attempt == 2
    hooks = wait_for(lambda: cache.get(f"hooks-{tag}"), 10, "on_failure")
    signals = wait_for(lambda: cache.get(f"signals-{tag}"), 10, "job_failed")
    # The two retried attempts called nothing; the final one called each once.
    assert hooks == [["on_failure", "ERRORED", 2, True]]
    assert signals == [["job_failed", "ERRORED", 2]]
    assert JobResult.objects.filter(root_uuid=result.root_uuid).count() == 3


def test_a_hook_or_receiver_that_raises_is_logged_and_changes_nothing(start_worker_process):
    worker = start_worker_process()
    tag = _tag()
    request = HookJob(tag, hook_raises=True).run_in_worker()
    result = request.wait(30)
    assert result.status == JobResult.Status.SUCCESSFUL and result.return_value == tag
    wait_for(
        lambda: f"on_success of tests.jobs.HookJob {request.uuid} failed" in worker.output(),
        10,
        "the hook's failure in the worker's log",
    )
    wait_for(
        lambda: f"of job_succeeded for tests.jobs.HookJob {request.uuid} failed" in worker.output(),
        10,
        "the receiver's failure in the worker's log",
    )
    assert f"RuntimeError: on_success of {tag} raises" in worker.output()
    result.refresh_from_db()
    assert result.status == JobResult.Status.SUCCESSFUL and not result.error
    # The worker goes on.
    assert NoopJob("after").run_in_worker().wait(30).return_value == "after"
