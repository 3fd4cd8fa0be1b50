"""Testing code that uses jobkit: what was enqueued, running what waits, and a pytest plugin.

For a project's own tests, not jobkit's internals. Everything goes through jobkit's real
rows: `assert_enqueued` reads the waiting requests, `run_waiting_jobs` runs them through the
same claim, run and record steps a worker takes (Celery's eager `apply`, in this process), so
the request, process and result rows, retries and deferrals are those of production.

The pytest plugin (loaded by `pytest_plugins = ["django_jobkit.testing"]` in a conftest, or
`-p django_jobkit.testing`) adds two fixtures:

- `jobkit_eager`: every job runs in the test's process when its transaction commits (Celery's
  `task_always_eager`, which jobkit honours: a delayed job waits for `run_waiting_jobs`).
- `jobkit_worker`: Celery's embedded worker (solo pool, in a thread of the test process) on
  the queues `JOBKIT_TEST_WORKER_QUEUES` names (default: `["default"]`), pinged before the
  test and stopped after it. It uses the test's database from another thread, so the test
  must commit: it needs pytest-django's `transactional_db` (which the fixture requests).

`django_jobkit.testing.tasks_conformance` is a conformance suite for backends of Django's tasks
framework (`TasksBackendConformance`), imported only by the tests that subclass it.

Nothing here is imported by jobkit itself; the module imports Django models only when called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from celery import Celery

    from ..jobs import Job
    from ..models import JobRequest, JobResult

#: What `run_waiting_jobs` gives up after: rounds of running what is due (a job that
#: enqueues itself forever would otherwise never let the test end).
MAX_ROUNDS = 100

_MISSING = object()


def _class_name(job_class: type[Job] | str) -> str:
    from .. import registry

    return job_class if isinstance(job_class, str) else registry.name_for(job_class)


def enqueued_jobs(
    job_class: type[Job] | str | None = None, *, queue: str | None = None, **attributes: Any
) -> list[JobRequest]:
    """The waiting requests (oldest first) of `job_class` (the class or its dotted name) on
    `queue`, whose jobs' attributes equal `attributes` (`user=alice` matches a job built with
    that user: model arguments compare by primary key)."""
    from ..models import JobRequest

    rows = JobRequest.objects.order_by("created_at", "pk")
    if job_class is not None:
        rows = rows.filter(job_class=_class_name(job_class))
    if queue is not None:
        rows = rows.filter(queue=queue)
    if not attributes:
        return list(rows)
    found = []
    for request in rows:
        job = request.load_job()
        if all(getattr(job, name, _MISSING) == value for name, value in attributes.items()):
            found.append(request)
    return found


def assert_enqueued(
    job_class: type[Job] | str,
    *,
    count: int | None = None,
    queue: str | None = None,
    **attributes: Any,
) -> list[JobRequest]:
    """Fail unless such a job waits (exactly `count` of them, if given); the requests. The
    message lists what does wait, so that a wrong argument is seen at once."""
    found = enqueued_jobs(job_class, queue=queue, **attributes)
    if (count is None and found) or (count is not None and len(found) == count):
        return found
    waiting = [_describe(r) for r in enqueued_jobs()[:20]]
    wanted = f"{count} " if count is not None else ""
    raise AssertionError(
        f"expected {wanted}{_class_name(job_class)} waiting"
        + (f" on {queue}" if queue else "")
        + (f" with {attributes}" if attributes else "")
        + f", found {len(found)}. Waiting now:\n  "
        + ("\n  ".join(waiting) or "nothing")
    )


def _describe(request: JobRequest) -> str:
    """`tests.jobs.NoopJob(1, queue='slow') on slow`: the call that enqueued it, near enough."""
    from ..parameters import decode_arguments

    args, kwargs = decode_arguments(request.parameters)
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{request.job_class}({', '.join(shown)}) on {request.queue}"


def assert_not_enqueued(
    job_class: type[Job] | str, *, queue: str | None = None, **attributes: Any
) -> None:
    """Fail if such a job waits."""
    found = enqueued_jobs(job_class, queue=queue, **attributes)
    if found:
        raise AssertionError(
            f"expected no {_class_name(job_class)} waiting, found {len(found)}: "
            + ", ".join(str(r.job_request_uuid) for r in found)
        )


def run_waiting_jobs(
    *, queue: str | None = None, include_delayed: bool = False, app: Celery | None = None
) -> list[JobResult]:
    """Run every waiting job that is due, here and now, through the worker's own steps; then
    those they enqueued or retried, until nothing due waits. With `include_delayed`, delayed
    jobs (and delayed retries) are run now too. A job of a paused queue, or one waiting for a
    running limit's slot, waits as it would in production. The results, in the order they
    ran.

    Works inside a test's transaction (pytest-django's `db`): nothing waits for a commit.
    """
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from .. import registry
    from ..models import JobRequest, JobResult

    app = app or _current_app()
    results: list[JobResult] = []
    with _eager(app):
        for _ in range(MAX_ROUNDS):
            # As in production, a job of a paused queue waits for the resume, and one over a
            # running limit for a slot (the admin's annotations, in the one statement).
            rows = (
                JobRequest.objects.with_queue_paused_at()
                .with_slot_waiting()
                .filter(queue_paused_at__isnull=True, slot_waiting_key__isnull=True)
                .order_by("-priority", "created_at", "pk")
            )
            if queue is not None:
                rows = rows.filter(queue=queue)
            if not include_delayed:
                rows = rows.filter(Q(start_at__isnull=True) | Q(start_at__lte=timezone.now()))
            due = list(rows)
            if not due:
                return results
            for request in due:
                if request.start_at is not None:
                    with transaction.atomic(using=JobRequest.objects.primary_alias()):
                        JobRequest.objects.start_now(request.job_request_uuid)
                task = app.tasks[registry.name_for(registry.job_class_for(request.job_class))]
                task_id = str(request.job_request_uuid)
                task.apply(args=(task_id,), task_id=task_id)
                result = JobResult.objects.of_request(request.job_request_uuid)
                if result is not None:
                    results.append(result)
    raise RuntimeError(
        f"jobs still due after {MAX_ROUNDS} rounds of run_waiting_jobs: does a job enqueue "
        "itself every time it runs?"
    )


def _current_app() -> Celery:
    from celery import current_app

    return current_app._get_current_object()  # type: ignore[attr-defined]


@contextlib.contextmanager
def _eager(app: Celery) -> Iterator[None]:
    """Celery's `task_always_eager` for the block: jobkit publishes by running inline."""
    from ..enqueue import publish

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    publish.clear_caches()
    try:
        yield
    finally:
        app.conf.task_always_eager = before
        publish.clear_caches()


@contextlib.contextmanager
def embedded_worker(app: Celery | None = None, queues: Sequence[str] = ("default",)) -> Any:
    """Celery's embedded test worker (solo pool, in a thread) on `queues`, pinged through the
    first before it is handed out, and woken so that it stops at once after.

    Quirks of the embedded worker worked around here: on RabbitMQ, with a prefetch multiplier
    of 1 its next delivery waited for its event loop's 10 s poll timeout, so it prefetches 4;
    and its loop reads the stop flag only when it wakes up (from a 10 s poll with RabbitMQ or
    Redis, twice from a 2 s poll on the filesystem transport), so stopping wakes it: through
    the event loop, or with two pings where there is none.
    """
    from celery.contrib.testing.tasks import ping
    from celery.contrib.testing.worker import start_worker
    from celery.result import allow_join_result
    from celery.worker import state

    app = app or _current_app()
    queues = list(queues)
    with start_worker(
        app,
        pool="solo",
        queues=queues,
        perform_ping_check=False,
        shutdown_timeout=30,
        prefetch_multiplier=4,
    ) as worker:
        try:
            with allow_join_result():
                assert ping.apply_async(queue=queues[0]).get(timeout=20, interval=0.05) == "pong"
            yield worker
        finally:
            # What start_worker sets on exit, set early, and the loop woken up to read it.
            state.should_terminate = 0  # type: ignore[assignment]  # typed None upstream
            if worker.hub is not None:
                worker.hub.call_soon(lambda: None)  # type: ignore[attr-defined]
            else:
                for _ in range(2):
                    ping.apply_async(queue=queues[0])


@pytest.fixture
def jobkit_eager() -> Iterator[None]:
    """Jobs run in the test's process as their transaction commits, rows and all."""
    with _eager(_current_app()):
        yield


@pytest.fixture
def jobkit_worker(transactional_db: None, settings: Any) -> Iterator[Any]:
    """A real Celery worker (embedded, solo pool) for the test's duration."""
    queues = getattr(settings, "JOBKIT_TEST_WORKER_QUEUES", None) or ["default"]
    with embedded_worker(_current_app(), queues) as worker:
        yield worker
