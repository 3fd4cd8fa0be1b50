"""Celery's own publishing settings apply to jobs: eager mode runs them inline at commit with
their rows, and `CELERY_TASK_ROUTES` routes the tasks of jobs whose class names no queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from django_jobkit.enqueue.publish import clear_caches
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import EchoJob, FailOnceJob, NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager(celery_app: Any) -> Iterator[None]:
    """`CELERY_TASK_ALWAYS_EAGER = True`, as a project's test settings would set it."""
    celery_app.conf.task_always_eager = True
    clear_caches()
    yield
    celery_app.conf.task_always_eager = False
    clear_caches()


def test_eager_runs_the_job_at_commit_and_records_its_rows(eager):
    with transaction.atomic():
        request = NoopJob({"n": 5}).run_in_worker()
        assert request is not None
        assert JobRequest.objects.filter(pk=request.pk).exists()
        assert not JobResult.objects.exists()  # not before the commit
    result = JobResult.objects.get(job_request_uuid=request.job_request_uuid)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == {"n": 5}
    assert result.celery_task_id == str(request.job_request_uuid)
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()


def test_eager_never_runs_a_rolled_back_job(eager):
    with pytest.raises(RuntimeError), transaction.atomic():
        NoopJob().run_in_worker()
        raise RuntimeError("the view failed")
    assert not JobResult.objects.exists() and not JobRequest.objects.exists()


def test_eager_follows_a_retry_that_is_due_at_once(eager):
    request = FailOnceJob().run_in_worker()
    assert request is not None
    last = request.wait(timeout=1)
    assert [r.status for r in last.attempts()] == [
        JobResult.Status.ERRORED,
        JobResult.Status.SUCCESSFUL,
    ]


def test_eager_keeps_a_delayed_job_until_a_sweep_finds_it_due(eager):
    request = NoopJob(1).run_in_worker(delay=30)
    assert request is not None
    assert not JobResult.objects.exists()
    assert JobRequest.objects.get(pk=request.pk).sent_at is None  # waits in the database
    JobRequest.objects.filter(pk=request.pk).update(
        start_at=timezone.now() - dt.timedelta(seconds=1)
    )
    Sweeper().sweep()
    assert JobResult.objects.get(job_request_uuid=request.job_request_uuid).return_value == 1


def test_eager_bulk_runs_every_job(eager):
    from django_jobkit import bulk_run_in_worker

    requests = bulk_run_in_worker([EchoJob(i) for i in range(3)])
    assert JobResult.objects.filter(status=JobResult.Status.SUCCESSFUL).count() == 3
    assert all(r is not None for r in requests)


@pytest.fixture
def routes(celery_app: Any) -> Iterator[Any]:
    """Set `CELERY_TASK_ROUTES` on the app for one test (Celery reads it once, then caches)."""
    saved = celery_app.conf.task_routes

    def set_routes(value: Any) -> None:
        celery_app.conf.task_routes = value
        celery_app.amqp.flush_routes()
        celery_app.amqp.__dict__.pop("router", None)

    yield set_routes
    set_routes(saved)


def test_task_routes_route_a_job_whose_class_names_no_queue(routes):
    routes({"tests.jobs.Echo*": {"queue": "echoes"}})
    assert EchoJob().run_in_worker().queue == "echoes"
    routes([lambda name, args, kwargs, options, task=None, **kw: "by-function"])
    assert EchoJob().run_in_worker().queue == "by-function"


def test_task_routes_yield_to_the_class_and_the_caller(routes):
    routes({"tests.jobs.*": {"queue": "routed"}})
    assert NoopJob(queue="mine").run_in_worker().queue == "mine"  # the class's default_queue
    assert EchoJob().run_in_worker(queue="given").queue == "given"  # run_in_worker(queue=)
    routes({"other.*": "routed"})
    assert EchoJob().run_in_worker().queue == "default"  # no route matches
