"""What a worker does with a message: claim the request, run the job, record its outcome.

Claim and record are each one short transaction; the job itself runs outside any
transaction, so a long job holds no database locks.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded, WorkerShutdown, WorkerTerminate
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connections
from django.utils import timezone

from .. import hooks
from ..enqueue import publish
from ..exceptions import (
    CorruptJobParameters,
    DeferJob,
    NoGPUAssigned,
    ReferencedObjectMissing,
    UnknownJobClass,
)
from ..models import JobProcess, JobRequest, JobResult
from . import gpu, identity, middleware, progress, timelimits
from .outcomes import Outcome, record
from .timelimits import SIGTERM_EXIT, timed_out_message

logger = logging.getLogger("django_jobkit.worker")

T = TypeVar("T")


#: Failures a retry cannot mend: the same input would fail the same way.
PERMANENT_ERRORS = (UnknownJobClass, CorruptJobParameters, ReferencedObjectMissing, NoGPUAssigned)


def execute_request(request_uuid: str, task_request: Any) -> JobResult | None:
    """Run the job of one message; a message for a request that is gone is acked and ignored."""
    process = _reconnecting(claim, request_uuid, task_request)
    if process is None:
        return None
    eager = bool(getattr(task_request, "is_eager", False))
    outcome = _after_cancel(process, run(process, own_connection=not eager))
    result = _reconnecting(record, process, outcome)
    hooks.notify(result)
    if outcome.stop_child is not None:
        raise outcome.stop_child  # the pool is terminating this child: let it go
    return result


def _after_cancel(process: JobProcess, outcome: Outcome) -> Outcome:
    """An attempt that fails (or defers) after a cancel was asked for is CANCELLED, never
    retried: e.g. revoked without terminate, which Celery lets run on. A success stays one."""
    if outcome.status == JobResult.Status.SUCCESSFUL or outcome.stop_child is not None:
        return outcome
    if not JobProcess.objects.cancel_requested(process.pk):
        return outcome
    error = "cancelled while running" + (f"; then {outcome.error}" if outcome.error else "")
    return Outcome(
        JobResult.Status.CANCELLED,
        error=error,
        traceback=outcome.traceback,
        started_at=outcome.started_at,
        retryable=False,
    )


def _reconnecting(step: Callable[..., T], *args: Any) -> T:
    """Run a claim or record step again on a new connection if the database dropped ours.

    Only a dead connection is retried: a step either committed or did nothing, and both
    steps recognise their own earlier success (see `claim` and `record`).
    """
    try:
        return step(*args)
    except (OperationalError, InterfaceError) as exc:
        connection = connections[JobProcess.objects.primary_alias()]
        if connection.is_usable():
            raise
        logger.warning("database connection lost (%s); reconnecting once", exc)
        connection.close()
        return step(*args)


def claim(request_uuid: str, task_request: Any) -> JobProcess | None:
    """Turn the request into a process atomically: exactly one delivery wins."""
    process, early = JobRequest.objects.claim(request_uuid, claimed_by(task_request))
    if early is not None:
        # Delivered early (clock skew between hosts): send again for its start time.
        publish.send(early)
    elif process is None:
        logger.debug("request %s is gone (already claimed or cancelled); ignoring", request_uuid)
    return process


def claimed_by(task_request: Any) -> dict[str, Any]:
    """Where a claimed job runs: this host, process and worker, and the Celery task id."""
    return {
        "host": _HOST,
        "pid": os.getpid(),
        "pid_start_time": identity.own_start_time(),
        "worker_name": getattr(task_request, "hostname", None) or "",
        "worker_pid": worker_main_pid(),
        "celery_task_id": getattr(task_request, "id", None) or "",
        "device": gpu.current_entry(),
    }


_HOST = socket.gethostname()


def worker_main_pid() -> int:
    """The pid of the worker's main process: the parent of a prefork child, else this one."""
    from billiard.process import current_process

    return os.getpid() if current_process().name == "MainProcess" else os.getppid()


def run(process: JobProcess, *, own_connection: bool = True) -> Outcome:
    """Run the middleware chain; every way a job can end becomes an `Outcome`.

    The job's last reported progress is stored before this returns, however it ended, so
    that recording the outcome copies it to the result; `own_connection` False (eager mode)
    writes it only then, through the caller's connection.
    """
    started_at = timezone.now()
    try:
        with progress.reporting(process, own_connection=own_connection):
            value = middleware.chain()(process)
    except DeferJob as exc:
        return Outcome(JobResult.Status.DEFERRED, started_at=started_at, defer=exc)
    except (WorkerShutdown, WorkerTerminate):
        raise  # the worker itself is stopping: not the job's failure
    except SoftTimeLimitExceeded as exc:
        outcome = _errored(exc, started_at)
        outcome.error = timed_out_message(timelimits.soft_limit(process.timeout))
        return outcome
    except Exception as exc:
        return _errored(exc, started_at)
    except BaseException as exc:  # a job's sys.exit() must not kill the worker
        if timelimits.killed_at_hard_limit(process, exc):
            raise  # SIGKILL follows within 0.1 s: exit now, the main process records it
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
    elapsed = (timezone.now() - started_at).total_seconds()
    overrun = timelimits.overrun(timelimits.soft_limit(process.timeout), elapsed)
    if overrun:  # a pool that cannot stop jobs (solo, threads): timed out all the same
        return Outcome(
            JobResult.Status.ERRORED, return_value=value, error=overrun, started_at=started_at
        )
    return Outcome(JobResult.Status.SUCCESSFUL, return_value=value, started_at=started_at)


def _interrupted(process: JobProcess, exc: BaseException, started_at: datetime) -> Outcome:
    """SystemExit or KeyboardInterrupt: a cancel, a hard time limit, or the job's own doing.

    The pool terminates a child with SIGTERM, which billiard turns into SystemExit: for a
    cancel or a time limit the attempt is recorded as such and the exception re-raised so the
    child exits as the pool intends. A job's own `sys.exit()` is an ordinary error.
    """
    cancel_requested = JobProcess.objects.cancel_requested(process.pk)
    elapsed = (timezone.now() - process.started_at).total_seconds()
    if cancel_requested:
        outcome = Outcome(
            JobResult.Status.CANCELLED, error="cancelled while running", retryable=False
        )
    elif (limit := timelimits.soft_limit(process.timeout)) and elapsed >= limit:
        outcome = Outcome(JobResult.Status.ERRORED, error=timed_out_message(limit))
    elif isinstance(exc, SystemExit) and exc.code == SIGTERM_EXIT:
        # The child itself was sent SIGTERM (e.g. a service manager stopping the whole
        # process group): the job did not fail, it was interrupted; retried like a lost one.
        outcome = Outcome(JobResult.Status.LOST, error="its worker child was stopped (SIGTERM)")
    else:
        return _errored(exc, started_at)
    outcome.started_at = started_at
    outcome.stop_child = exc
    return outcome


def _errored(exc: BaseException, started_at: datetime) -> Outcome:
    return Outcome(
        JobResult.Status.ERRORED,
        error=f"{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
        error_class=f"{type(exc).__module__}.{type(exc).__qualname__}",
        started_at=started_at,
        retryable=not isinstance(exc, PERMANENT_ERRORS),
    )
