"""Django's tasks framework on jobkit's engine: each `@task` function runs as a Job class.

A class per function, named after the function (`myapp.tasks.send_report`), so the admin,
`manage.py jobkit`, Flower and `celery inspect` show the task's own name and a worker that
imported the function's module has its Celery task. The class is made and registered when the
framework validates the task (at `@task` time), so every process that imported the module can
enqueue and run it; `tasks` modules of installed apps are imported at start-up like `jobs`.

A task result is a retry chain: its id is the first request's uuid (known as soon as
`enqueue` returns, inside the caller's transaction) and its status, errors, attempts and
worker ids are read from the chain's rows (`result_of`). Nothing is stored twice.
"""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from django.conf import settings
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from . import registry
from ._compat.tasks import require
from .enqueue import service
from .enqueue.limits import Limit
from .exceptions import InvalidJobOptionType
from .jobs import Job, register_job
from .models import JobProcess, JobRequest, JobResult
from .parameters import decode_arguments

#: `headers[HEADER]`: the backend alias a task was enqueued through, and its `run_after`.
HEADER = "django.tasks"
#: The backend's dotted path, as TASKS settings name it.
BACKEND_PATH = "django_jobkit.tasks_backend.JobkitBackend"

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class TaskOptions:
    """jobkit's options for one task function (`job_options`); None: the backend's OPTIONS."""

    retries: int | None = None
    retry_delay: int | Callable[[int], int] = 0
    timeout: int | None = None
    concurrency_key: str | Callable[..., str] = ""
    limits: Sequence[Limit] | Callable[..., Sequence[Limit]] = ()


def job_options(
    *,
    retries: int | None = None,
    retry_delay: int | Callable[[int], int] = 0,
    timeout: int | None = None,
    concurrency_key: str | Callable[..., str] = "",
    limits: Sequence[Limit] | Callable[..., Sequence[Limit]] = (),
) -> Callable[[F], F]:
    """jobkit's job options for a task function; put it under `@task`:

        @task(priority=10)
        @job_options(retries=3, retry_delay=lambda attempt: 10 * attempt,
                     concurrency_key=lambda user_id: f"user-{user_id}",
                     limits=[Limit("partner-api", rate="100/m")])
        def sync_user(user_id): ...

    `concurrency_key` and `limits` may be callables taking the task's arguments, as the Job
    hooks `default_concurrency_key()` and `limits()` read the job's. The framework's own
    options (priority, queue_name, run_after) stay the framework's.
    """
    if retries is not None:
        service.check_int("retries", retries, lo=0)
    if not callable(retry_delay):
        service.check_int("retry_delay", retry_delay, lo=0)
    if timeout is not None:
        service.check_int("timeout", timeout, lo=1)
    if not (callable(concurrency_key) or isinstance(concurrency_key, str)):
        raise InvalidJobOptionType(
            f"concurrency_key={concurrency_key!r}: pass a str or a callable taking the task's "
            "arguments"
        )
    if not callable(limits) and not all(isinstance(limit, Limit) for limit in limits):
        raise InvalidJobOptionType(
            f"limits={limits!r}: pass a list of Limit(...) or a callable returning one"
        )
    options = TaskOptions(retries, retry_delay, timeout, concurrency_key, limits)

    def decorate(func: F) -> F:
        if not inspect.isfunction(func):
            raise InvalidJobOptionType(
                f"@job_options decorates the task's function, not {func!r}: put it under @task"
            )
        func.jobkit_options = options  # type: ignore[attr-defined]
        return func

    return decorate


class TaskJob(Job):
    """The job that runs one task function; `job_class_for` makes a subclass per function."""

    #: The task's dotted path: the module attribute holding its function (or its `Task`).
    task_path: ClassVar[str] = ""
    options: ClassVar[TaskOptions] = TaskOptions()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = list(args)
        self.kwargs = dict(kwargs)

    def run(self) -> Any:
        framework = require()
        process = self._jobkit_process
        if process is None:  # `job.run()` called directly: the function, nothing to report
            found = import_string(self.task_path)
            return getattr(found, "func", found)(*self.args, **self.kwargs)
        task = task_of(process)
        args: list[Any] = self.args
        task_result = result_at(process, task.backend)
        backend = framework.module.task_backends[task.backend]
        framework.task_started.send(sender=type(backend), task_result=task_result)
        if task.takes_context:
            args = [framework.TaskContext(task_result=task_result), *args]
        return framework.normalize_json(task.call(*args, **self.kwargs))

    def calculate_retry_delay(self, attempt: int) -> int:
        delay = self.options.retry_delay
        return int(delay(attempt)) if callable(delay) else delay

    def default_concurrency_key(self) -> str:
        key = self.options.concurrency_key
        return str(key(*self.args, **self.kwargs)) if callable(key) else key

    def default_timeout(self) -> int | None:
        return self.options.timeout

    def on_success(self, result: JobResult) -> None:
        finished(result)

    def on_failure(self, result: JobResult) -> None:
        finished(result)

    def on_aborted(self, result: JobResult) -> None:
        if result.retry_job_request_uuid is None:  # lost and retried: not finished yet
            finished(result)


def _limits_from_options(self: TaskJob) -> list[Limit]:
    limits = self.options.limits
    return list(limits(*self.args, **self.kwargs) if callable(limits) else limits)


_classes: dict[Any, type[TaskJob]] = {}


def job_class_for(task: Any) -> type[TaskJob]:
    """The registered Job class of a task's function, made on first sight."""
    func = task.func
    cls = _classes.get(func)
    if cls is None:
        options = getattr(func, "jobkit_options", TaskOptions())
        namespace: dict[str, Any] = {
            "__module__": func.__module__,
            "__qualname__": func.__qualname__,
            "__doc__": func.__doc__,
            "task_path": task.module_path,
            "options": options,
        }
        if callable(options.limits) or options.limits:
            # Only then: a class without its own `limits()` skips that hook on enqueue.
            namespace["limits"] = _limits_from_options
        cls = type(func.__name__, (TaskJob,), namespace)
        register_job(cls)
        _classes[func] = cls
    return cls


def enqueue(task: Any, args: Sequence[Any], kwargs: dict[str, Any], backend: Any) -> Any:
    """Write the task's request in the caller's transaction (sent once it commits); its
    `TaskResult`, READY. When the concurrency key's dedup rule keeps it out, the result of
    the job that holds the key."""
    framework = require()
    cls = job_class_for(task)
    # The framework's JSON rule (a TypeError for anything else), so that the function gets
    # exactly the `args` and `kwargs` its result shows.
    args, kwargs = framework.normalize_json(list(args)), framework.normalize_json(dict(kwargs))
    job = cls(*args, **kwargs)
    header: dict[str, Any] = {"backend": backend.alias, "takes_context": task.takes_context}
    if task.run_after is not None:
        header["run_after"] = task.run_after.isoformat()
    retries = cls.options.retries
    request = service.enqueue(
        job,
        queue=task.queue_name,
        priority=task.priority,
        delay=task.run_after,
        retries=backend.default_retries if retries is None else retries,
        timeout=cls.options.timeout or backend.default_timeout,
        headers={HEADER: header},
    )
    if request is None:
        holder = JobRequest.objects.key_holder(
            registry.name_for(cls), job.default_concurrency_key()
        )
        if holder is None:
            raise framework.TaskResultDoesNotExist(
                f"{task.module_path} was not enqueued: its should_enqueue refused it, and no job "
                "of its concurrency key waits or runs"
            )
        return result_of(holder, backend.alias)
    task_result = framework.TaskResult(
        task=task,
        id=str(request.root_uuid),
        status=framework.TaskResultStatus.READY,
        enqueued_at=request.created_at,
        started_at=None,
        finished_at=None,
        last_attempted_at=None,
        args=args,
        kwargs=kwargs,
        backend=backend.alias,
        errors=[],
        worker_ids=[],
    )
    framework.task_enqueued.send(sender=type(backend), task_result=task_result)
    return task_result


def result_of(result_id: Any, alias: str) -> Any:
    """The `TaskResult` of the chain whose first request has uuid `result_id`, read from its
    waiting, running and ended attempts; `TaskResultDoesNotExist` when it has none."""
    framework = require()
    try:
        root_uuid = uuid.UUID(str(result_id))
    except ValueError:
        raise framework.TaskResultDoesNotExist(f"no task result with id {result_id!r}") from None
    attempts = JobRequest.objects.chain_attempts(root_uuid)
    if not attempts:
        raise framework.TaskResultDoesNotExist(f"no task result with id {result_id!r}")
    return _result_from(attempts, alias)


def result_at(row: JobProcess | JobResult, alias: str) -> Any:
    """The `TaskResult` of the chain `row` belongs to: read from `row` alone when it is the
    chain's first attempt (nothing came before it: no query), else from the chain's rows."""
    if row.job_request_uuid == row.root_uuid:
        return _result_from([row], alias)
    return result_of(row.root_uuid, alias)


def _result_from(rows: list[Any], alias: str) -> Any:
    framework = require()
    Status = framework.TaskResultStatus
    results = [row for row in rows if isinstance(row, JobResult)]
    processes = [row for row in rows if isinstance(row, JobProcess)]
    succeeded = [row for row in results if row.status == JobResult.Status.SUCCESSFUL]
    if succeeded:
        status = Status.SUCCESSFUL
    elif processes:
        status = Status.RUNNING
    elif any(isinstance(row, JobRequest) for row in rows):
        status = Status.READY
    else:
        status = Status.FAILED
    ran: list[JobProcess | JobResult] = sorted(
        [*(r for r in results if r.started_at is not None), *processes], key=_started
    )
    first = min(rows, key=_created)  # a later attempt's request is always written later
    args, kwargs = decode_arguments(first.parameters)
    task_result = framework.TaskResult(
        task=task_of(first),
        id=str(first.root_uuid),
        status=status,
        enqueued_at=first.created_at,
        started_at=ran[0].started_at if ran else None,
        finished_at=results[-1].ended_at if status in (Status.SUCCESSFUL, Status.FAILED) else None,
        last_attempted_at=ran[-1].started_at if ran else None,
        args=list(args),
        kwargs=kwargs,
        backend=alias,
        errors=[_error(framework, row) for row in results if row.status in FAILED_STATUSES],
        worker_ids=[worker_id(row) for row in ran],
    )
    if succeeded:
        object.__setattr__(task_result, "_return_value", succeeded[-1].return_value)
    return task_result


FAILED_STATUSES = {JobResult.Status.ERRORED, JobResult.Status.LOST, JobResult.Status.CANCELLED}
#: The exception an attempt that raised nothing of its own is reported as.
_STATUS_ERRORS: dict[str, str] = {
    JobResult.Status.ERRORED: "django_jobkit.exceptions.JobErrored",  # a timeout
    JobResult.Status.LOST: "django_jobkit.exceptions.JobLost",
    JobResult.Status.CANCELLED: "django_jobkit.exceptions.JobCancelled",
}


def _started(row: Any) -> Any:
    return row.started_at


def _created(row: Any) -> Any:
    return row.created_at


def _error(framework: Any, result: JobResult) -> Any:
    return framework.TaskError(
        exception_class_path=result.error_class or _STATUS_ERRORS[result.status],
        traceback=result.traceback or result.error,
    )


def worker_id(row: JobProcess | JobResult) -> str:
    """Who ran an attempt: the Celery worker's node name (or host) and its child's pid."""
    name = row.worker_name or row.host
    return f"{name}:{row.pid}" if row.pid else name


def task_of(row: Any) -> Any:
    """The framework's `Task` a row was enqueued as: the function at the row's path (under
    `@task` or a plain function bound at run time) with the options it was enqueued with."""
    framework = require()
    header = (row.headers or {}).get(HEADER) or {}
    found = import_string(row.job_class)
    func = found.func if isinstance(found, framework.Task) else found
    alias = header.get("backend") or getattr(
        found, "backend", framework.module.DEFAULT_TASK_BACKEND_ALIAS
    )
    run_after = header.get("run_after")
    return framework.module.task_backends[alias].task_class(
        func=func,
        priority=row.priority,
        backend=alias,
        queue_name=row.queue,
        run_after=parse_datetime(run_after) if run_after else None,
        takes_context=bool(header.get("takes_context", getattr(found, "takes_context", False))),
    )


def finished(result: JobResult) -> None:
    """The framework's `task_finished`, once a chain's last attempt is recorded."""
    framework = require()
    task = task_of(result)
    backend = framework.module.task_backends[task.backend]
    framework.task_finished.send(sender=type(backend), task_result=result_at(result, task.backend))


def configured() -> bool:
    """Whether a TASKS backend is jobkit's: then `tasks` modules are imported at start-up,
    so that workers have every task's Celery task before the first message."""
    backends = getattr(settings, "TASKS", None) or {}
    return any(
        isinstance(options, dict) and options.get("BACKEND") == BACKEND_PATH
        for options in backends.values()
    )
