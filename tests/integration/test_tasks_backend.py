"""`JobkitBackend`, jobkit as a backend of Django's tasks framework, through the framework's own
API (`@task`, `.enqueue`, `.get_result`): rows written in the caller's transaction, statuses
read from the chain's records, errors per attempt, options, signals.

The tasks run through the worker's own claim, run and record steps (`run_waiting_jobs`); a
real worker runs them in tests/worker/test_tasks_backend.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from django_jobkit import registry
from django_jobkit._compat.tasks import require
from django_jobkit.enqueue import routing
from django_jobkit.models import JobHold, JobRequest, JobResult
from django_jobkit.tasks_backend import JobkitBackend, job_options
from django_jobkit.testing import run_waiting_jobs
from tests import tasks

framework = require()
Status = framework.TaskResultStatus


@pytest.fixture
def received() -> Iterator[list[tuple[str, Any, str]]]:
    """The framework's signals as they are sent: (signal, sender, status)."""
    seen: list[tuple[str, Any, str]] = []
    receivers = []
    for name in ("task_enqueued", "task_started", "task_finished"):
        signal = getattr(framework, name)

        def receiver(sender: Any, task_result: Any, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, sender, str(task_result.status)))

        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
    yield seen
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_enqueue_writes_the_request_in_the_callers_transaction_and_its_id_is_the_uuid():
    with transaction.atomic():
        result = tasks.add.enqueue(2, 3)
        request = JobRequest.objects.get()
        # The id is known at once, inside the transaction: it is the request's uuid.
        assert result.id == str(request.job_request_uuid) == str(request.root_uuid)
        assert result.status == Status.READY
        assert request.job_class == "tests.tasks.add"
        assert request.sent_at is not None  # sent once the transaction commits
    assert tasks.add.get_result(result.id).status == Status.READY

    (ran,) = run_waiting_jobs()
    assert ran.status == JobResult.Status.SUCCESSFUL and ran.return_value == 5
    done = tasks.add.get_result(result.id)
    assert done.status == Status.SUCCESSFUL and done.return_value == 5
    assert done.args == [2, 3] and done.kwargs == {}
    assert done.attempts == 1 and len(done.worker_ids) == 1
    assert done.enqueued_at <= done.started_at <= done.last_attempted_at <= done.finished_at


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_enqueue_leaves_nothing_and_its_result_does_not_exist():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        result = tasks.add.enqueue(1, 1)
        raise Rollback
    assert not JobRequest.objects.exists()
    with pytest.raises(framework.TaskResultDoesNotExist):
        tasks.add.get_result(result.id)
    with pytest.raises(framework.TaskResultDoesNotExist):
        tasks.add.get_result("not-a-uuid")
    with pytest.raises(framework.TaskResultDoesNotExist):
        tasks.add.get_result(str(uuid.uuid4()))


@pytest.mark.django_db(transaction=True)
def test_a_failing_task_is_failed_with_the_exception_its_traceback_and_one_attempt():
    result = tasks.fail.enqueue("no such user")
    run_waiting_jobs()
    result.refresh()
    assert result.status == Status.FAILED
    (error,) = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "ValueError: no such user" in error.traceback
    assert result.attempts == 1
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018


@pytest.mark.django_db(transaction=True)
def test_retries_from_job_options_keep_one_result_with_an_error_per_attempt(received):
    marker = uuid.uuid4().hex
    result = tasks.fail_twice_then.enqueue(marker)
    run_waiting_jobs()
    result.refresh()
    assert result.status == Status.SUCCESSFUL and result.return_value == marker
    assert [e.exception_class_path for e in result.errors] == ["builtins.RuntimeError"] * 2
    assert "attempt 1 of" in result.errors[0].traceback
    assert "attempt 2 of" in result.errors[1].traceback
    assert result.attempts == 3 == len(result.worker_ids)
    # The same id follows the chain; each attempt is a row of its own.
    assert JobResult.objects.filter(root_uuid=result.id).count() == 3
    # Finished once, after the last attempt, not after each failure; started on each attempt.
    names = [name for name, _, _ in received]
    assert names.count("task_started") == 3
    assert names.count("task_finished") == 1
    assert received[-1] == ("task_finished", JobkitBackend, str(Status.SUCCESSFUL))


@pytest.mark.django_db(transaction=True)
def test_backend_options_give_every_task_retries_and_a_timeout():
    with override_settings(
        TASKS={
            "default": {
                "BACKEND": "django_jobkit.tasks_backend.JobkitBackend",
                "OPTIONS": {"retries": 3, "timeout": 120},
            }
        }
    ):
        result = tasks.fail.enqueue("x")
        request = JobRequest.objects.get(job_request_uuid=result.id)
        assert (request.retries, request.timeout) == (3, 120)
        run_waiting_jobs()
        result.refresh()
        assert result.status == Status.FAILED and len(result.errors) == 4 == result.attempts
        # A task's own job_options win over the backend's.
        other = tasks.fail_twice_then.enqueue(uuid.uuid4().hex)
        assert JobRequest.objects.get(job_request_uuid=other.id).retries == 2


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"retry": 3}, "'retry', which JobkitBackend does not know"),
        ({"retries": -1}, "['retries'] is -1"),
        ({"retries": "3"}, "['retries'] is '3'"),
        ({"timeout": 0}, "['timeout'] is 0"),
    ],
)
def test_bad_options_name_the_problem(options, says):
    with pytest.raises(ImproperlyConfigured) as error:
        JobkitBackend("x", {"OPTIONS": options})
    assert str(error.value).startswith("TASKS['x']['OPTIONS']") and says in str(error.value)


def test_bad_job_options_name_the_option():
    with pytest.raises(TypeError, match="retries='2' has type str"):
        job_options(retries="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout=0 is below 1"):
        job_options(timeout=0)
    with pytest.raises(TypeError, match=r"limits=.*list of Limit"):
        job_options(limits=["partner"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="put it under @task"):
        job_options(retries=1)(tasks.add)


@pytest.mark.django_db(transaction=True)
def test_running_is_seen_from_inside_the_task_with_its_context():
    result = tasks.own_result.enqueue()
    run_waiting_jobs()
    result.refresh()
    seen = result.return_value
    assert seen["id"] == result.id
    assert seen["status"] == str(Status.RUNNING)
    assert seen["attempt"] == 1 and len(seen["worker_ids"]) == 1
    assert result.worker_ids == seen["worker_ids"]


@pytest.mark.django_db(transaction=True)
def test_run_after_is_the_rows_start_time_and_it_waits_until_then():
    later = timezone.now() + dt.timedelta(hours=1)
    result = tasks.add.using(run_after=later).enqueue(1, 2)
    request = JobRequest.objects.get(job_request_uuid=result.id)
    assert request.start_at == later
    assert request.sent_at is None  # held in the database, not a broker ETA
    assert run_waiting_jobs() == []
    again = tasks.add.get_result(result.id)
    assert again.status == Status.READY and again.task.run_after == later
    run_waiting_jobs(include_delayed=True)
    assert tasks.add.get_result(result.id).return_value == 3


@pytest.mark.django_db(transaction=True)
def test_priority_is_stored_as_given_and_sent_on_the_brokers_levels():
    for priority in (-100, -5, 0, 5, 100):
        result = tasks.add.using(priority=priority).enqueue(1, 1)
        request = JobRequest.objects.get(job_request_uuid=result.id)
        assert request.priority == priority
        assert tasks.add.get_result(result.id).task.priority == priority
    levels = [routing.broker_level(p) for p in (-100, -5, 0, 5, 100)]
    assert levels == sorted(levels) and levels[0] == 0 and levels[-1] == 9
    with pytest.raises(framework.InvalidTask):
        tasks.add.using(priority=101)


@pytest.mark.django_db(transaction=True)
def test_queue_names_are_checked_against_the_backends_queues():
    with override_settings(
        TASKS={
            "default": {
                "BACKEND": "django_jobkit.tasks_backend.JobkitBackend",
                "QUEUES": ["default", "slow"],
            }
        }
    ):
        result = tasks.add.using(queue_name="slow").enqueue(1, 1)
        assert JobRequest.objects.get(job_request_uuid=result.id).queue == "slow"
        with pytest.raises(framework.InvalidTask, match="'fast' is not valid"):
            tasks.add.using(queue_name="fast")


@pytest.mark.django_db(transaction=True)
def test_an_async_task_runs():
    result = tasks.async_add.enqueue(20, 22)
    run_waiting_jobs()
    assert tasks.async_add.get_result(result.id).return_value == 42


@pytest.mark.django_db(transaction=True)
def test_arguments_must_be_json_and_nothing_is_written_otherwise():
    with pytest.raises(TypeError):
        tasks.echo.enqueue(object())
    assert not JobRequest.objects.exists()
    result = tasks.echo.enqueue((1, 2), {"a": [1, {"b": None}]}, flag=True)
    run_waiting_jobs()
    assert tasks.echo.get_result(result.id).return_value == {
        "args": [[1, 2], {"a": [1, {"b": None}]}],
        "kwargs": {"flag": True},
    }


@pytest.mark.django_db(transaction=True)
def test_signals_fire_in_order(received):
    result = tasks.add.enqueue(1, 2)
    assert received == [("task_enqueued", JobkitBackend, str(Status.READY))]
    run_waiting_jobs()
    assert received[1:] == [
        ("task_started", JobkitBackend, str(Status.RUNNING)),
        ("task_finished", JobkitBackend, str(Status.SUCCESSFUL)),
    ]
    failed = tasks.fail.enqueue("x")
    run_waiting_jobs()
    assert received[-1] == ("task_finished", JobkitBackend, str(Status.FAILED))
    assert failed.id != result.id


@pytest.mark.django_db(transaction=True)
def test_a_concurrency_key_gives_a_second_enqueue_the_waiting_tasks_result():
    first = tasks.sync_user.enqueue(7)
    second = tasks.sync_user.enqueue(7)
    other = tasks.sync_user.enqueue(8)
    assert second.id == first.id != other.id
    assert JobRequest.objects.filter(job_class="tests.tasks.sync_user").count() == 2
    run_waiting_jobs()
    assert tasks.sync_user.get_result(first.id).return_value == 7


@pytest.mark.django_db(transaction=True)
def test_limits_from_job_options_hold_the_task_until_a_slot_frees():
    first = tasks.limited.enqueue(1)
    second = tasks.limited.enqueue(2)
    holds = JobHold.objects.filter(key="tasks-partner")
    assert holds.count() == 2 and holds.filter(held=True).count() == 1
    assert JobRequest.objects.get(job_request_uuid=first.id).timeout == 30
    run_waiting_jobs()
    assert tasks.limited.get_result(first.id).return_value == 1
    assert tasks.limited.get_result(second.id).return_value == 2


def test_each_task_is_a_registered_job_class_and_a_celery_task_of_its_own_name():
    from celery import current_app

    for task in (tasks.add, tasks.fail, tasks.async_add):
        cls = registry.job_class_for(task.module_path)
        assert registry.name_for(cls) == task.module_path
        assert task.module_path in current_app.tasks
    # A task made by `using()` is the same job: one class per function.
    assert registry.job_class_for(tasks.add.using(priority=5).module_path) is (
        registry.job_class_for("tests.tasks.add")
    )


@pytest.mark.django_db(transaction=True)
def test_a_result_of_another_task_is_refused():
    result = tasks.add.enqueue(1, 1)
    with pytest.raises(framework.TaskResultMismatch):
        tasks.fail.get_result(result.id)


@pytest.mark.django_db(transaction=True)
def test_a_first_attempts_result_read_from_its_row_alone_is_the_chains():
    from django_jobkit.task_jobs import result_at, result_of

    fields = ("id", "status", "args", "kwargs", "enqueued_at", "started_at", "finished_at")
    for result in (tasks.add.enqueue(1, 2), tasks.fail.enqueue("x")):
        run_waiting_jobs()
        (row,) = JobResult.objects.filter(root_uuid=result.id)
        alone, chain = result_at(row, "default"), result_of(result.id, "default")
        assert [getattr(alone, f) for f in fields] == [getattr(chain, f) for f in fields]
        assert alone.errors == chain.errors and alone.worker_ids == chain.worker_ids
    # A retry's row is not the chain's first: its result is read from the whole chain.
    retried = tasks.fail_twice_then.enqueue(uuid.uuid4().hex)
    run_waiting_jobs()
    last = JobResult.objects.filter(root_uuid=retried.id).order_by("retry_attempt").last()
    assert result_at(last, "default").attempts == 3


@pytest.mark.django_db(transaction=True)
def test_a_read_that_missed_a_retry_written_meanwhile_is_read_again(monkeypatch):
    """A retry's request is written with its predecessor's result; a reader that read the
    requests just before that commit, and the results just after, finds the result but not
    the retry. The result names its retry, so the backend reads again rather than report the
    chain FAILED."""
    from django_jobkit.models.querysets import JobRequestQuerySet

    result = tasks.fail_and_retry_later.enqueue("m")
    run_waiting_jobs()  # the first attempt fails; its retry waits an hour
    (first,) = JobResult.objects.filter(root_uuid=result.id)
    assert JobRequest.objects.filter(job_request_uuid=first.retry_job_request_uuid).exists()

    reads = []
    real = JobRequestQuerySet.chain_read

    def skewed_once(self, root_uuid):
        waiting, running, ended = real(self, root_uuid)
        reads.append(len(waiting))
        return ([], running, ended) if len(reads) == 1 else (waiting, running, ended)

    monkeypatch.setattr(JobRequestQuerySet, "chain_read", skewed_once)
    again = tasks.fail_and_retry_later.get_result(result.id)
    assert again.status == Status.READY and len(again.errors) == 1
    assert reads == [1, 1]
