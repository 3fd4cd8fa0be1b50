"""What a worker does with a message: claim the request, run the job, record the result.

Claim and record are each one short transaction; the job itself runs outside any
transaction, so a long job holds no database locks.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded, WorkerShutdown, WorkerTerminate
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connections, router, transaction
from django.utils import timezone

from . import dispatch, fastpath, middleware
from .exceptions import (
    CorruptJobParameters,
    DeferJob,
    ReferencedObjectMissing,
    UnknownJobClass,
)
from .models import JobProcess, JobRequest, JobResult

if TYPE_CHECKING:
    from .jobs import Job

logger = logging.getLogger("django_jobkit.worker")

T = TypeVar("T")

#: What billiard's SIGTERM handler in a pool child raises SystemExit with.
SIGTERM_EXIT = -(256 - signal.SIGTERM)

#: Failures a retry cannot mend: the same input would fail the same way.
PERMANENT_ERRORS = (UnknownJobClass, CorruptJobParameters, ReferencedObjectMissing)

_COPIED = fastpath.COPIED


def execute_request(request_uuid: str, task_request: Any) -> JobResult | None:
    """Run the job of one message; a message for a request that is gone is acked and ignored."""
    process = _reconnecting(claim, request_uuid, task_request)
    if process is None:
        return None
    outcome = run(process)
    result = _reconnecting(record, process, outcome)
    if result is not None and result.status in (JobResult.Status.CANCELLED, JobResult.Status.LOST):
        from .aborting import notify_aborted

        notify_aborted(result)
    if outcome.stop_child is not None:
        raise outcome.stop_child  # the pool is terminating this child: let it go
    return result


def locked_request(using: str, request_uuid: Any) -> JobRequest | None:
    """The request, locked for this transaction; None if gone or locked by someone else."""
    return (
        JobRequest.objects.using(using)
        .select_for_update(skip_locked=True)
        .filter(job_request_uuid=request_uuid)
        .first()
    )


def _reconnecting(step: Callable[..., T], *args: Any) -> T:
    """Run a claim or record step again on a new connection if the database dropped ours.

    Only a dead connection is retried: a step either committed or did nothing, and both
    steps recognise their own earlier success (see `claim` and `record`).
    """
    try:
        return step(*args)
    except (OperationalError, InterfaceError) as exc:
        connection = connections[router.db_for_write(JobProcess)]
        if connection.is_usable():
            raise
        logger.warning("database connection lost (%s); reconnecting once", exc)
        connection.close()
        return step(*args)


def claim(request_uuid: str, task_request: Any) -> JobProcess | None:
    """Turn the request into a process atomically: exactly one delivery wins."""
    fast = fastpath.usable(JobRequest)
    if fast is not None:
        process = fastpath.claim(fast, request_uuid, _claimed_by(task_request))
        if process is not None:
            return process
        # Gone, early or locked by another delivery: the portable path tells which.
    using = router.db_for_write(JobRequest)
    with transaction.atomic(using=using):
        request = (
            JobRequest.objects.using(using)
            .select_for_update(skip_locked=True)
            .filter(job_request_uuid=request_uuid)
            .first()
        )
        if request is None:
            logger.debug(
                "request %s is gone (already claimed or cancelled); ignoring", request_uuid
            )
            return None
        if request.start_at is not None and request.start_at > timezone.now():
            # Delivered early (clock skew between hosts): send again for its start time.
            transaction.on_commit(lambda: dispatch.send(request), using=using)
            return None
        process = JobProcess.objects.using(using).create(
            **{name: getattr(request, name) for name in _COPIED}, **_claimed_by(task_request)
        )
        request.delete()
    return process


def _claimed_by(task_request: Any) -> dict[str, Any]:
    """Where a claimed job runs: this host, process and worker, and the Celery task id."""
    return {
        "host": _HOST,
        "pid": os.getpid(),
        "worker_name": getattr(task_request, "hostname", None) or "",
        "worker_pid": worker_main_pid(),
        "celery_task_id": getattr(task_request, "id", None) or "",
    }


_HOST = socket.gethostname()


def worker_main_pid() -> int:
    """The pid of the worker's main process: the parent of a prefork child, else this one."""
    from billiard.process import current_process

    return os.getpid() if current_process().name == "MainProcess" else os.getppid()


@dataclass
class Outcome:
    status: str
    return_value: Any = None
    error: str = ""
    traceback: str = ""
    started_at: datetime = field(default_factory=timezone.now)
    defer: DeferJob | None = None
    retryable: bool = True
    stop_child: BaseException | None = None


def run(process: JobProcess) -> Outcome:
    """Run the middleware chain; every way a job can end becomes an `Outcome`."""
    started_at = timezone.now()
    try:
        value = middleware.chain()(process)
    except DeferJob as exc:
        return Outcome(JobResult.Status.DEFERRED, started_at=started_at, defer=exc)
    except (WorkerShutdown, WorkerTerminate):
        raise  # the worker itself is stopping: not the job's failure
    except SoftTimeLimitExceeded as exc:
        outcome = _errored(exc, started_at)
        outcome.error = timed_out_message(process.timeout)
        return outcome
    except Exception as exc:
        return _errored(exc, started_at)
    except BaseException as exc:  # a job's sys.exit() must not kill the worker
        return _interrupted(process, exc, started_at)
    try:
        json.dumps(value, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as exc:
        return Outcome(
            JobResult.Status.ERRORED,
            error=f"run() returned a value that cannot be stored as JSON: {exc}",
            started_at=started_at,
            retryable=False,
        )
    return Outcome(JobResult.Status.SUCCESSFUL, return_value=value, started_at=started_at)


def _interrupted(process: JobProcess, exc: BaseException, started_at: datetime) -> Outcome:
    """SystemExit or KeyboardInterrupt: a cancel, a hard time limit, or the job's own doing.

    The pool terminates a child with SIGTERM, which billiard turns into SystemExit: for a
    cancel or a time limit the attempt is recorded as such and the exception re-raised so the
    child exits as the pool intends. A job's own `sys.exit()` is an ordinary error.
    """
    cancel_requested = JobProcess.objects.filter(
        pk=process.pk, cancel_requested_at__isnull=False
    ).exists()
    elapsed = (timezone.now() - process.started_at).total_seconds()
    if cancel_requested:
        outcome = Outcome(
            JobResult.Status.CANCELLED, error="cancelled while running", retryable=False
        )
    elif process.timeout and elapsed >= process.timeout:
        outcome = Outcome(JobResult.Status.ERRORED, error=timed_out_message(process.timeout))
    elif isinstance(exc, SystemExit) and exc.code == SIGTERM_EXIT:
        # The child itself was sent SIGTERM (e.g. a service manager stopping the whole
        # process group): the job did not fail, it was interrupted; retried like a lost one.
        outcome = Outcome(JobResult.Status.LOST, error="its worker child was stopped (SIGTERM)")
    else:
        return _errored(exc, started_at)
    outcome.started_at = started_at
    outcome.stop_child = exc
    return outcome


def timed_out_message(timeout: int | None) -> str:
    return f"timed out after {timeout} s"


def _errored(exc: BaseException, started_at: datetime) -> Outcome:
    return Outcome(
        JobResult.Status.ERRORED,
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
        started_at=started_at,
        retryable=not isinstance(exc, PERMANENT_ERRORS),
    )


def record(process: JobProcess, outcome: Outcome) -> JobResult | None:
    """Replace the process with its result, and write the next attempt when one is due."""
    fast = fastpath.usable(JobProcess)
    if fast is not None and not _wants_next_attempt(process, outcome):
        return _record_fast(fast, process, outcome)
    using = router.db_for_write(JobProcess)
    with transaction.atomic(using=using):
        if not JobProcess.objects.using(using).filter(pk=process.pk).delete()[0]:
            # Someone else already ended this attempt (e.g. marked it lost): one result only.
            logger.warning("process %s was already ended elsewhere; not recording", process.uuid)
            return None
        next_request = _next_attempt(process, outcome)
        return JobResult.objects.using(using).create(
            **{name: getattr(process, name) for name in _COPIED},
            job_process_uuid=process.uuid,
            status=outcome.status,
            error=outcome.error,
            traceback=outcome.traceback,
            return_value=outcome.return_value,
            started_at=outcome.started_at,
            ended_at=timezone.now(),
            host=process.host,
            pid=process.pid,
            worker_name=process.worker_name,
            celery_task_id=process.celery_task_id,
            retry_job_request_uuid=next_request.job_request_uuid if next_request else None,
        )


def _record_fast(using: str, process: JobProcess, outcome: Outcome) -> JobResult | None:
    values = {
        "uuid": uuid.uuid4(),
        "status": outcome.status,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "return_value": outcome.return_value,
        "started_at": outcome.started_at,
        "ended_at": timezone.now(),
    }
    result = fastpath.record(using, process, values)
    if result is None:
        logger.warning("process %s was already ended elsewhere; not recording", process.uuid)
    return result


def _wants_next_attempt(process: JobProcess, outcome: Outcome) -> bool:
    return outcome.defer is not None or (
        outcome.status in (JobResult.Status.ERRORED, JobResult.Status.LOST)
        and outcome.retryable
        and process.retry_attempt < process.retries
    )


def _next_attempt(process: JobProcess, outcome: Outcome) -> JobRequest | None:
    from .jobs import enqueue

    if outcome.defer is not None:
        attempt = process.retry_attempt + (1 if outcome.defer.increment_retries else 0)
        if attempt > process.retries:
            outcome.status = JobResult.Status.ERRORED
            outcome.error = f"deferred after using all {process.retries} retries"
            return None
        delay: Any = outcome.defer.delay
    elif (
        outcome.status in (JobResult.Status.ERRORED, JobResult.Status.LOST)
        and outcome.retryable
        and process.retry_attempt < process.retries
    ):
        attempt = process.retry_attempt + 1
        delay = None
    else:
        return None
    try:
        job: Job = process.load_job()
        if delay is None:
            delay = job.calculate_retry_delay(attempt)
        with transaction.atomic(using=router.db_for_write(JobRequest)):  # a savepoint
            return enqueue(
                job,
                queue=process.queue,
                delay=delay,
                priority=process.priority,
                retries=process.retries,
                retry_attempt=attempt,
                concurrency_key=process.concurrency_key,
                timeout=process.timeout,
                parameters=process.parameters,
                root_uuid=process.root_uuid,
            )
    except Exception as exc:
        logger.exception("could not enqueue the next attempt of %s", process.job_request_uuid)
        outcome.error = (outcome.error + "\n" if outcome.error else "") + (
            f"the next attempt could not be enqueued: {type(exc).__name__}: {exc}"
        )
        return None
