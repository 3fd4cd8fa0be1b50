"""How jobkit's records look from Celery: the task's own report, and a task id's state.

jobkit records every attempt itself, so a job's Celery task used to return None whatever
happened, and Celery's log, events and Flower called every attempt a success. Here the task
reports the recorded result the way Celery understands: a success returns the job's return
value; an attempt that will be retried raises `Retry` (logged as "retry", event
`task-retried`); any other failure raises an `AttemptFailed` that the task lists in `throws`
(one log line without a traceback, event `task-failed`). Neither makes Celery retry, reject or
deliver anything again: the message is acked as for any finished task.

`task_meta` answers `AsyncResult(<request uuid>)` from the same rows, following retries to
the last attempt as a retrying Celery task's result does (see `results_backend`).
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import states
from celery.exceptions import Retry, TaskRevokedError

from ..exceptions import AttemptFailed, JobCancelled, JobErrored, JobLost
from ..models import JobProcess, JobRequest, JobResult

Status = JobResult.Status

_FAILURES: dict[str, type[AttemptFailed]] = {
    Status.ERRORED: JobErrored,
    Status.LOST: JobLost,
    Status.CANCELLED: JobCancelled,
}

#: What each final status is in Celery's terms (a result with a next attempt is RETRY).
CELERY_STATES: dict[str, str] = {
    Status.SUCCESSFUL: states.SUCCESS,
    Status.ERRORED: states.FAILURE,
    Status.LOST: states.FAILURE,
    Status.CANCELLED: states.REVOKED,
    Status.DEFERRED: states.FAILURE,  # a deferral whose next attempt could not be written
}


def failure_of(result: JobResult) -> AttemptFailed:
    """The exception that tells Celery how this attempt ended."""
    return _FAILURES.get(result.status, JobErrored)(result.error or result.status.lower())


def report(result: JobResult | None) -> Any:
    """Return or raise what the task should, for the result of the attempt it ran.

    None (nothing ran: the request was gone, or came early) returns None.
    """
    if result is None or result.status == Status.SUCCESSFUL:
        return None if result is None else result.return_value
    if result.retry_job_request_uuid is not None:
        raise Retry(message=_retry_message(result), exc=failure_of(result))
    raise failure_of(result)


def _retry_message(result: JobResult) -> str:
    what = "deferred" if result.status == Status.DEFERRED else f"{result.status}: {result.error}"
    return f"{what}; the next attempt is request {result.retry_job_request_uuid}"


def task_meta(task_id: str) -> dict[str, Any] | None:
    """Celery's task meta for a jobkit request uuid, or None when jobkit has no such job.

    waiting → PENDING, running → STARTED, then the last attempt of the retry chain:
    SUCCESSFUL → SUCCESS (the return value), ERRORED and LOST → FAILURE (`JobErrored`,
    `JobLost`), CANCELLED → REVOKED (`TaskRevokedError`, as Celery stores a revoke), and while
    a retry waits, RETRY with the failure that caused it.
    """
    try:
        wanted = uuid.UUID(str(task_id))
    except ValueError:
        return None
    previous: JobResult | None = None
    seen: set[uuid.UUID] = set()
    while wanted not in seen:
        seen.add(wanted)
        result = JobResult.objects.of_request(wanted)
        if result is None:
            return _unfinished(task_id, wanted, previous)
        if result.retry_job_request_uuid is None:
            return _finished(task_id, result)
        previous, wanted = result, result.retry_job_request_uuid
    return None if previous is None else _finished(task_id, previous)


def _unfinished(
    task_id: str, request_uuid: uuid.UUID, previous: JobResult | None
) -> dict[str, Any] | None:
    process = JobProcess.objects.of_request(request_uuid)
    if process is not None:
        started = {"pid": process.pid, "hostname": process.worker_name}
        return _meta(task_id, states.STARTED, started, name=process.job_class)
    if previous is not None:
        # The next attempt waits (or its rows were deleted): a retrying task is RETRY.
        return _meta(
            task_id, states.RETRY, _exception(failure_of(previous)), name=previous.job_class
        )
    request = JobRequest.objects.waiting(request_uuid)
    if request is None:
        return None
    return _meta(task_id, states.PENDING, None, name=request.job_class)


def _finished(task_id: str, result: JobResult) -> dict[str, Any]:
    state = CELERY_STATES.get(result.status, states.FAILURE)
    if state == states.SUCCESS:
        value: Any = result.return_value
    elif state == states.REVOKED:
        value = _exception(TaskRevokedError(result.error or "cancelled"))
    else:
        value = _exception(failure_of(result))
    return _meta(
        task_id,
        state,
        value,
        name=result.job_class,
        traceback=result.traceback or None,
        date_done=result.ended_at,
    )


def _exception(exc: BaseException) -> dict[str, Any]:
    """An exception as Celery's JSON result serialisation writes it."""
    kind = type(exc)
    return {
        "exc_type": kind.__qualname__,
        "exc_message": list(exc.args),
        "exc_module": kind.__module__,
    }


def _meta(task_id: str, status: str, result: Any, **extra: Any) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "status": status,
        "result": result,
        "traceback": extra.pop("traceback", None),
        "children": [],
        "date_done": extra.pop("date_done", None),
        **extra,
    }
