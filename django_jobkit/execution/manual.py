"""What an operator does to jobs by hand (the admin's actions): retry a failed job, run a
delayed one now.

Both go through the engine's own paths: a retry is the chain's next attempt enqueued as the
engine enqueues its own retries (`attempts.enqueue_attempt`: same parameters, options and
root, the concurrency key's lock and `should_enqueue`), and running a delayed request now sends
it with the one publisher (`enqueue.publish.send`) once its new start time is committed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import partial

from django.db import transaction

from ..enqueue import publish
from ..models import JobRequest, JobResult
from .attempts import enqueue_attempt

#: The ends a retry by hand is offered for: an attempt that did not succeed by itself.
RETRYABLE = (JobResult.Status.ERRORED, JobResult.Status.LOST, JobResult.Status.CANCELLED)


class Retried(enum.Enum):
    """How a retry by hand ended."""

    ENQUEUED = "enqueued"
    NOT_FAILED = "not failed"  # successful, or a deferral: nothing to retry
    CHAIN_LIVE = "a later attempt waits or runs"
    CHAIN_SUCCEEDED = "a later attempt succeeded"
    ALREADY_RETRIED = "already retried"
    DEDUPLICATED = "held by its concurrency key"
    REFUSED = "could not be enqueued"


@dataclass(frozen=True)
class RetryOutcome:
    status: Retried
    request: JobRequest | None = None  # the new attempt, when ENQUEUED
    retried: JobResult | None = None  # the chain's result that now links to it
    reason: str = ""  # for REFUSED: the error, class and message

    @property
    def enqueued(self) -> bool:
        return self.status is Retried.ENQUEUED


def retry(result: JobResult) -> RetryOutcome:
    """Enqueue the next attempt of the failed job `result` belongs to, to run now.

    The attempt is the chain's: numbered after its last attempt, linked from that attempt's
    result, never a second one while an attempt waits or runs or once one succeeded (checked
    with the chain's last result locked, so two clicks at once make one attempt). Where the
    job's concurrency key is held by another job, `should_enqueue` refuses it as it refuses
    any enqueue: DEDUPLICATED, nothing written.
    """
    if result.status not in RETRYABLE:
        return RetryOutcome(Retried.NOT_FAILED)
    with transaction.atomic(using=JobResult.objects.primary_alias()):
        latest = JobResult.objects.latest_of_chain(result.root_uuid) or result
        if JobRequest.objects.chain_live(result.root_uuid):
            return RetryOutcome(Retried.CHAIN_LIVE)
        if JobResult.objects.succeeded_in_chain(result.root_uuid):
            return RetryOutcome(Retried.CHAIN_SUCCEEDED)
        if latest.retry_job_request_uuid is not None or latest.status not in RETRYABLE:
            return RetryOutcome(Retried.ALREADY_RETRIED)
        try:
            with transaction.atomic(using=JobResult.objects.primary_alias()):  # a savepoint
                request = enqueue_attempt(latest, latest.retry_attempt + 1, delay=0)
        except Exception as exc:  # a class no longer registered, a referenced row deleted
            return RetryOutcome(Retried.REFUSED, reason=f"{type(exc).__name__}: {exc}")
        if request is None:
            return RetryOutcome(Retried.DEDUPLICATED)
        JobResult.objects.link_retry(latest.pk, request.job_request_uuid)
        latest.retry_job_request_uuid = request.job_request_uuid
    return RetryOutcome(Retried.ENQUEUED, request=request, retried=latest)


def run_now(request: JobRequest) -> JobRequest | None:
    """Start a delayed request now: its start time cleared and its message sent once that is
    committed (a message already waiting at the broker with the old ETA finds the request
    claimed, or runs it: either way it runs once). None when it was not delayed or has
    already been claimed or cancelled."""
    using = JobRequest.objects.primary_alias()
    with transaction.atomic(using=using):
        started = JobRequest.objects.start_now(request.job_request_uuid)
        if started is not None:
            transaction.on_commit(partial(publish.send, started), using=using)
    return started
