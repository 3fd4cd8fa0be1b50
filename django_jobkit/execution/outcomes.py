"""Recording how an attempt ended: the one place a process becomes a result.

The runner records what a job did; the heartbeat, the sweeper and cancels record attempts
that did not end by themselves (a dead child, a silent worker, a cancel). All of them go
through `record`, which deletes the process row first: whoever gets there first records the
one result, the others find the row gone and record nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .. import hooks
from ..enqueue import batches, publish
from ..models import JobProcess, JobResult
from . import timelimits
from .attempts import enqueue_attempt
from .timelimits import timed_out_message

if TYPE_CHECKING:
    from ..models import JobBatch, JobRequest

logger = logging.getLogger("django_jobkit.outcomes")


@dataclass
class Outcome:
    """How an attempt ended, before it is recorded."""

    status: str
    return_value: Any = None
    error: str = ""
    traceback: str = ""
    error_class: str = ""  # the exception's dotted path, for an error that `run()` raised
    started_at: datetime = field(default_factory=timezone.now)
    defer: Any = None  # the DeferJob raised, for a deferral
    retryable: bool = True
    stop_child: BaseException | None = None  # re-raised after recording: the child must exit


def record(process: JobProcess, outcome: Outcome) -> JobResult | None:
    """Replace the process with its result, and write the next attempt when one is due;
    None when the attempt had already been recorded elsewhere."""
    values = {
        "status": outcome.status,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "error_class": outcome.error_class,
        "return_value": outcome.return_value,
        "started_at": outcome.started_at,
        "ended_at": timezone.now(),
    }
    next_attempt = None
    if _wants_next_attempt(process, outcome):

        def next_attempt() -> JobRequest | None:
            request = _next_attempt(process, outcome)
            values["status"], values["error"] = outcome.status, outcome.error
            return request

    admitted: list[JobRequest] = []
    result = JobProcess.objects.finish(process, values, next_attempt, admitted, _batch_done)
    if result is None:
        logger.warning("process %s was already ended elsewhere; not recording", process.uuid)
    if admitted:  # the jobs its running limits' slots went to
        transaction.on_commit(
            partial(publish.send_many, admitted), using=JobProcess.objects.primary_alias()
        )
    return result


def _batch_done(batch: JobBatch) -> None:
    """The attempt just recorded was its batch's last: enqueue `then`, in this transaction
    (a failure to is logged: the batch stays completed, `then` is not run twice)."""
    try:
        with transaction.atomic(using=JobProcess.objects.primary_alias()):  # a savepoint
            batches.enqueue_then(batch)
    except Exception:
        logger.exception("could not enqueue the then job of batch %s", batch.uuid)


def end_process(process: JobProcess, reason: str) -> JobResult | None:
    """Record an attempt whose child is gone: CANCELLED, timed out (ERRORED) or LOST."""
    if process.cancel_requested_at is not None:
        outcome = Outcome(JobResult.Status.CANCELLED, error="cancelled while running")
        outcome.retryable = False
    elif past_time_limit(process, timezone.now()):
        outcome = Outcome(
            JobResult.Status.ERRORED, error=timed_out_message(timelimits.limit_of(process))
        )
    else:
        outcome = Outcome(JobResult.Status.LOST, error=reason)
    outcome.started_at = process.started_at
    result = record(process, outcome)
    hooks.notify(result)
    return result


def past_time_limit(process: JobProcess, now: datetime) -> bool:
    limit = timelimits.limit_of(process)
    return bool(limit) and (now - process.started_at).total_seconds() >= (limit or 0)


def _wants_next_attempt(process: JobProcess, outcome: Outcome) -> bool:
    return outcome.defer is not None or (
        outcome.status in (JobResult.Status.ERRORED, JobResult.Status.LOST)
        and outcome.retryable
        and process.retry_attempt < process.retries
    )


def _next_attempt(process: JobProcess, outcome: Outcome) -> JobRequest | None:
    """The retry or deferral's request, written in the recording transaction (a savepoint,
    so that a failure to enqueue it leaves the result to be recorded with the reason)."""
    if outcome.defer is not None:
        attempt = process.retry_attempt + (1 if outcome.defer.increment_retries else 0)
        if attempt > process.retries:
            outcome.status = JobResult.Status.ERRORED
            outcome.error = f"deferred after using all {process.retries} retries"
            return None
        delay: Any = outcome.defer.delay
    else:
        attempt = process.retry_attempt + 1
        delay = None
    try:
        with transaction.atomic(using=JobProcess.objects.primary_alias()):  # a savepoint
            return enqueue_attempt(process, attempt, delay)
    except Exception as exc:
        logger.exception("could not enqueue the next attempt of %s", process.job_request_uuid)
        outcome.error = (outcome.error + "\n" if outcome.error else "") + (
            f"the next attempt could not be enqueued: {type(exc).__name__}: {exc}"
        )
        return None
