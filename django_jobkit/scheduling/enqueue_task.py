"""`django_jobkit.enqueue`: any registered job, with its arguments, from a periodic task.

A job's own Celery task takes the id of a request already written, not the job's arguments,
so a periodic task made in django-celery-beat's admin cannot name it. This task can be named:
its keyword arguments (the periodic task's JSON "Keyword arguments") give the job and its
arguments, and it enqueues through `run_in_worker`, as code would: the request row first, the
concurrency key's dedup, the same option checks. Bad input is one log line, and nothing is
written::

    {"job": "myapp.jobs.ReportJob", "args": [], "kwargs": {"region": "eu"},
     "options": {"queue": "reports", "concurrency_key": "report-eu"}}
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import shared_task

from .. import registry
from ..exceptions import InvalidEnqueueArguments

if TYPE_CHECKING:
    from ..models import JobRequest

logger = logging.getLogger("django_jobkit.scheduling")

ENQUEUE_TASK = "django_jobkit.enqueue"

#: The task's keyword arguments, in `enqueue_by_name`'s order.
TASK_ARGUMENTS = ("job", "args", "kwargs", "options")

#: The `run_in_worker` options a periodic task may give (`retry_attempt` is the engine's).
OPTIONS = ("concurrency_key", "delay", "priority", "queue", "retries", "timeout")


def enqueue_by_name(
    job: Any = None,
    args: Any = None,
    kwargs: Any = None,
    options: Any = None,
) -> JobRequest | None:
    """Build the named job from JSON arguments and `run_in_worker` it; None if not enqueued.

    Raises `InvalidEnqueueArguments`, naming the problem, before anything is written.
    """
    args = [] if args is None else args
    kwargs = {} if kwargs is None else kwargs
    options = {} if options is None else options
    if not isinstance(job, str) or not job:
        raise InvalidEnqueueArguments(
            f"job={job!r} is not a job name; give the dotted path of a job class"
        )
    try:
        job_class = registry.job_class_for(job)
    except LookupError:
        raise InvalidEnqueueArguments(
            f"unknown job {job!r}: no registered job class has that name; give the dotted path "
            "of a class decorated with @register_job"
        ) from None
    if not isinstance(args, list):
        raise InvalidEnqueueArguments(
            f"args of {job} must be a JSON list, got {type(args).__name__}"
        )
    if not isinstance(kwargs, dict):
        raise InvalidEnqueueArguments(
            f"kwargs of {job} must be a JSON object, got {type(kwargs).__name__}"
        )
    if not isinstance(options, dict):
        raise InvalidEnqueueArguments(
            f"options of {job} must be a JSON object, got {type(options).__name__}"
        )
    if unknown := _unknown(options, OPTIONS, "option"):
        raise InvalidEnqueueArguments(f"{unknown} for {job}; the options are {', '.join(OPTIONS)}")
    try:
        instance = job_class(*args, **kwargs)
    except Exception as exc:  # the job's own __init__ refusing what the periodic task gave
        raise InvalidEnqueueArguments(
            f"{job} refused its arguments (args={args!r}, kwargs={kwargs!r}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        return instance.run_in_worker(**options)
    except (TypeError, ValueError) as exc:  # run_in_worker's option and argument checks
        raise InvalidEnqueueArguments(
            f"{job} was not enqueued: {type(exc).__name__}: {exc}"
        ) from exc


@shared_task(name=ENQUEUE_TASK, ignore_result=True, typing=False)
def enqueue(*positional: Any, **given: Any) -> str:
    """Enqueue `job(*args, **kwargs)` with `options`: schedule this task from beat's admin.

    Takes any arguments (no `typing` check at send time, which would fail in beat at every
    tick), so that wrong ones are refused here, in one line of the worker's log.
    """
    try:
        request = enqueue_by_name(*_task_arguments(positional, given))
    except InvalidEnqueueArguments as exc:
        logger.error("%s: %s; nothing was enqueued", ENQUEUE_TASK, exc)
        return f"refused: {exc}"
    job = given.get("job")
    if request is None:
        logger.info("%s: %s not enqueued: its should_enqueue said no", ENQUEUE_TASK, job)
        return "not enqueued: should_enqueue said no"
    logger.info("%s: enqueued %s as %s", ENQUEUE_TASK, job, request.job_request_uuid)
    return f"enqueued {request.job_request_uuid}"


def _task_arguments(positional: tuple[Any, ...], given: dict[str, Any]) -> list[Any]:
    names = ", ".join(TASK_ARGUMENTS)
    if positional:
        raise InvalidEnqueueArguments(
            f"positional arguments {list(positional)!r} given; the task takes keyword arguments "
            f"only ({names}): put them in the periodic task's keyword arguments"
        )
    if unknown := _unknown(given, TASK_ARGUMENTS, "keyword argument"):
        raise InvalidEnqueueArguments(f"{unknown}; the task takes {names}")
    return [given.get(name) for name in TASK_ARGUMENTS]


def _unknown(given: dict[str, Any], known: tuple[str, ...], what: str) -> str:
    """ "unknown option 'x'" for the keys of `given` not among `known`; "" when none."""
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return ""
    return f"unknown {what}{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
