"""Ending attempts that did not end by themselves: cancelled, lost, or killed at their limit.

Every path goes through `worker.record`, which deletes the process row first: whoever gets
there first records the one result, the others find the row gone and record nothing.
"""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING

from django.db import router, transaction
from django.utils import timezone

from .models import JobProcess, JobRequest, JobResult
from .worker import _COPIED, Outcome, locked_request, record, timed_out_message

if TYPE_CHECKING:
    from datetime import datetime

logger = logging.getLogger("django_jobkit.aborting")


def cancel_request(request_uuid: object) -> JobResult | None:
    """Delete a waiting request and record it CANCELLED; None if a worker claimed it first."""
    using = router.db_for_write(JobRequest)
    with transaction.atomic(using=using):
        request = locked_request(using, request_uuid)
        if request is None:
            return None
        result = JobResult.objects.using(using).create(
            **{name: getattr(request, name) for name in _COPIED},
            status=JobResult.Status.CANCELLED,
            error="cancelled before it started",
        )
        request.delete()
    notify_aborted(result)
    return result


def cancel_process(pk: int) -> bool:
    """Ask the worker running this job to kill the child running it; the worker records it.

    The request is written first, so that the result is CANCELLED (not LOST) whichever of the
    worker's revoke handler, its child check or the sweeper sees the dead child first.
    """
    from celery import current_app

    JobProcess.objects.filter(pk=pk, cancel_requested_at__isnull=True).update(
        cancel_requested_at=timezone.now()
    )
    process = JobProcess.objects.filter(pk=pk).first()
    if process is None:
        return False
    current_app.control.revoke(process.celery_task_id, terminate=True, signal=signal.SIGTERM.name)
    return True


def end_process(process: JobProcess, reason: str) -> JobResult | None:
    """Record an attempt whose child is gone: CANCELLED, timed out (ERRORED) or LOST."""
    if process.cancel_requested_at is not None:
        outcome = Outcome(JobResult.Status.CANCELLED, error="cancelled while running")
        outcome.retryable = False
    elif _past_time_limit(process, timezone.now()):
        outcome = Outcome(JobResult.Status.ERRORED, error=timed_out_message(process.timeout))
    else:
        outcome = Outcome(JobResult.Status.LOST, error=reason)
    outcome.started_at = process.started_at
    result = record(process, outcome)
    if result is not None and result.status != JobResult.Status.ERRORED:
        notify_aborted(result)
    return result


def _past_time_limit(process: JobProcess, now: datetime) -> bool:
    return bool(process.timeout) and (now - process.started_at).total_seconds() >= (
        process.timeout or 0
    )


def notify_aborted(result: JobResult) -> None:
    """Call the job's `on_aborted` hook; a failing hook is logged, never raised."""
    try:
        result.load_job().on_aborted(result)
    except Exception:
        logger.exception("on_aborted of %s %s failed", result.job_class, result.job_request_uuid)
