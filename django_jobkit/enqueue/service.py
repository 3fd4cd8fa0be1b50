"""The enqueue path: `run_in_worker` and `bulk_run_in_worker`.

Enqueue is one transaction: (lock the concurrency key) → `should_enqueue` → the
`job_enqueuing` signal → INSERT. The Celery message is sent only once that transaction commits,
so a job enqueued in a view whose transaction rolls back never exists and never runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db import router, transaction
from django.utils import timezone

from .. import registry, signals
from ..conf import jobkit_settings
from ..exceptions import InvalidJobOption, InvalidJobOptionType, InvalidJobParameter
from ..models import locks
from ..parameters import encode_job
from . import limits, pauses, publish, routing

if TYPE_CHECKING:
    from ..jobs import Job
    from ..models import JobRequest

Delay = float | timedelta | datetime


def enqueue(job: Job, **options: Any) -> JobRequest | None:
    """Enqueue one job: the body of `run_in_worker`; `options` are `build_request`'s."""
    from ..models import JobRequest  # not at import time: jobs.py may load before models

    request = build_request(job, **options)
    using = router.db_for_write(JobRequest)
    if limits.running_keys(request.limits):
        return _enqueue_limited(job, request, using)
    if not request.concurrency_key and not _decides(job):
        # Nothing to decide under a lock: the INSERT alone is atomic (in autocommit mode it is
        # its own transaction: one round trip instead of BEGIN, INSERT, COMMIT).
        _enqueuing(job, request)
        JobRequest.objects.insert(request)
    else:
        with transaction.atomic(using=using, savepoint=False):
            if not _insert_if_wanted(job, request, using):
                return None
    if request.sent_at is not None:
        # Runs at once in autocommit mode, else when the caller's transaction commits.
        transaction.on_commit(partial(publish.send, request), using=using)
    return request


def _insert_if_wanted(job: Job, request: JobRequest, using: str) -> bool:
    """Inside the caller's transaction: take the concurrency key's lock, ask `should_enqueue`
    under it, and INSERT; whether the request was written."""
    from ..models import JobRequest

    if request.concurrency_key:
        locks.acquire(using, request.job_class, request.concurrency_key)
    if not job.should_enqueue(request.concurrency_key):
        return False
    _enqueuing(job, request)
    JobRequest.objects.insert(request)
    return True


def _enqueue_limited(job: Job, request: JobRequest, using: str) -> JobRequest | None:
    """A job with running limits: written waiting for its slots, and sent (after commit) only
    if it got them all now; else when a running job of its keys ends."""
    from ..models import JobHold

    with transaction.atomic(using=using, savepoint=False):
        if not _insert_if_wanted(job, request, using):
            return None
        JobHold.objects.hold([request])
        admitted = JobHold.objects.admit(limits.running_keys(request.limits))
        if admitted:
            transaction.on_commit(partial(publish.send_many, admitted), using=using)
    for other in admitted:
        if other.pk == request.pk:
            request.sent_at = other.sent_at
    return request


def bulk_run_in_worker(
    jobs: Iterable[Job],
    *,
    queue: str | None = None,
    delay: Delay | None = None,
    priority: int | None = None,
    retries: int | None = None,
    timeout: int | None = None,
) -> list[JobRequest | None]:
    """Enqueue many jobs in one transaction: one INSERT, then the messages on one connection.

    Options apply to every job and fall back to each job's `default_*` hooks. Jobs with a
    concurrency key still go through the lock and `should_enqueue` one by one (None in the
    returned list where refused); the others are inserted together. Every argument is checked
    before anything is written.
    """
    from ..models import JobRequest  # not at import time: jobs.py may load before models

    jobs = list(jobs)
    requests = [
        build_request(
            job, queue=queue, delay=delay, priority=priority, retries=retries, timeout=timeout
        )
        for job in jobs
    ]
    using = router.db_for_write(JobRequest)
    with transaction.atomic(using=using, savepoint=False):
        return insert_all(jobs, requests, using)


def insert_all(jobs: list[Job], requests: list[JobRequest], using: str) -> list[JobRequest | None]:
    """Write checked requests inside the caller's transaction, sending them after its commit:
    the plain ones in one INSERT, those with a concurrency key or their own `should_enqueue`
    one by one under the key's lock (None where refused), those with running limits held."""
    from ..models import JobRequest

    results: list[JobRequest | None] = list(requests)
    plain = []
    for i, (job, request) in enumerate(zip(jobs, requests, strict=True)):
        if not request.concurrency_key and not _decides(job):
            _enqueuing(job, request)
            plain.append(request)
            continue
        locks.acquire(using, request.job_class, request.concurrency_key)
        if job.should_enqueue(request.concurrency_key):
            _enqueuing(job, request)
            JobRequest.objects.insert(request)
        else:
            results[i] = None
    JobRequest.objects.insert_many(plain)
    to_send = [r for r in results if r is not None and r.sent_at is not None]
    limited = [r for r in results if r is not None and r.limits]
    if limited:
        to_send += _hold_many(limited)
    if to_send:
        transaction.on_commit(partial(publish.send_many, to_send), using=using)
    return results


def _enqueuing(job: Job, request: JobRequest) -> None:
    """Tell `job_enqueuing`'s receivers (tracing, for one) that this request is about to be
    written; with none connected, Django's `send` returns at once."""
    signals.job_enqueuing.send(sender=type(job), job=job, request=request)


def _hold_many(requests: list[JobRequest]) -> list[JobRequest]:
    """Holds for many limited requests, then one admission per key; those admitted."""
    from ..models import JobHold

    JobHold.objects.hold(requests)
    keys = {key for request in requests for key in limits.running_keys(request.limits)}
    admitted = JobHold.objects.admit(sorted(keys))
    by_pk = {request.pk: request for request in requests}
    for other in admitted:
        if other.pk in by_pk:
            by_pk[other.pk].sent_at = other.sent_at
    return admitted


def build_request(
    job: Job,
    *,
    queue: str | None = None,
    delay: Delay | None = None,
    priority: int | None = None,
    retries: int | None = None,
    retry_attempt: int = 0,
    concurrency_key: str | None = None,
    timeout: int | None = None,
    parameters: dict[str, Any] | None = None,
    root_uuid: uuid.UUID | None = None,
    batch_uuid: uuid.UUID | None = None,
    headers: dict[str, Any] | None = None,
) -> JobRequest:
    """The unsaved request for a job: every option checked, hooks consulted, nothing written."""
    from ..models import JobRequest  # not at import time: jobs.py may load before models

    job_class = registry.name_for(type(job))
    if parameters is None:
        parameters = encode_job(job)
        _check_size(job_class, parameters)
    if concurrency_key is None:
        concurrency_key = job.default_concurrency_key()
    if timeout is None:
        timeout = job.default_timeout()
    start_at = start_time(delay)
    now = timezone.now()
    # Near starts go to the broker now (as an ETA); far ones wait in the database for the
    # sweeper, so that no worker holds them in memory and broker restarts cannot lose them.
    send_now = start_at is None or start_at <= now + timedelta(
        seconds=jobkit_settings.DELAY_HORIZON
    )
    queue = routing.check_queue(default_queue(job, job_class) if queue is None else queue)
    if send_now and queue in pauses.paused_queues():
        send_now = False  # a paused queue's jobs wait unsent until it is resumed
    job_limits = None
    if not getattr(type(job).limits, "default_rule", False):
        job_limits = limits.stored(job.limits(), job_class)
        if limits.running_keys(job_limits):
            send_now = False  # sent once it holds a slot of each running limit (`limits`)
    request_uuid = uuid.uuid4()
    return JobRequest(
        job_class=job_class,
        parameters=parameters,
        queue=queue,
        priority=check_int("priority", job.default_priority() if priority is None else priority),
        retries=check_int("retries", job.default_retries() if retries is None else retries, lo=0),
        retry_attempt=check_int("retry_attempt", retry_attempt, lo=0),
        concurrency_key=_check_key(concurrency_key),
        timeout=None if timeout is None else check_int("timeout", timeout, lo=1),
        limits=job_limits,
        batch_uuid=batch_uuid,
        headers=headers,
        job_request_uuid=request_uuid,
        root_uuid=root_uuid or request_uuid,
        start_at=start_at,
        created_at=now,
        sent_at=now if send_now else None,
    )


def default_queue(job: Job, job_class: str) -> str:
    """A job's queue when `run_in_worker` names none: its class's `default_queue()` when the
    class defines one, else the queue `CELERY_TASK_ROUTES` routes its task to, else
    `default_queue()`'s own default, "default"."""
    if getattr(type(job).default_queue, "default_rule", False):
        routed = routing.routed_queue(job_class)
        if routed is not None:
            return routed
    return job.default_queue()


def start_time(delay: Delay | None) -> datetime | None:
    """The aware start time for a delay of seconds, a timedelta or an aware datetime."""
    if delay is None:
        return None
    if isinstance(delay, datetime):
        if timezone.is_naive(delay):
            raise InvalidJobOption(
                f"delay={delay!r} is a naive datetime; pass an aware one (USE_TZ is required)"
            )
        return delay
    if isinstance(delay, timedelta):
        seconds = delay.total_seconds()
    elif isinstance(delay, int | float) and not isinstance(delay, bool):
        seconds = float(delay)
    else:
        raise InvalidJobOptionType(
            f"delay={delay!r} has type {type(delay).__name__}; pass seconds (int or float), "
            "a timedelta or an aware datetime"
        )
    if not seconds >= 0:  # also refuses NaN
        raise InvalidJobOption(f"delay={delay!r} is negative; pass a delay of 0 or more")
    if seconds == 0:
        return None
    return timezone.now() + timedelta(seconds=seconds)


def check_int(name: str, value: Any, lo: int | None = None) -> int:
    """An int option as given, or the error naming it (`InvalidJobOption[Type]`)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJobOptionType(f"{name}={value!r} has type {type(value).__name__}; pass an int")
    if lo is not None and value < lo:
        raise InvalidJobOption(f"{name}={value!r} is below {lo}")
    return value


def _check_size(job_class: str, parameters: dict[str, Any]) -> None:
    size = len(json.dumps(parameters, separators=(",", ":")).encode())
    limit = jobkit_settings.MAX_PARAMETERS_BYTES
    if size > limit:
        raise InvalidJobParameter(
            f"the arguments of {job_class} take {size} bytes as JSON, more than "
            f"JOBKIT_MAX_PARAMETERS_BYTES ({limit}); store large data elsewhere (a file, a "
            "model) and pass its reference"
        )


def _check_key(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidJobOptionType(
            f"concurrency_key={value!r} has type {type(value).__name__}; pass a str"
        )
    if len(value) > 255:
        raise InvalidJobOption(f"concurrency_key {value[:40]!r}... is longer than 255 characters")
    return value


def _decides(job: Job) -> bool:
    """Whether the job's class overrides `should_enqueue` (then it runs under the lock)."""
    return not getattr(type(job).should_enqueue, "default_rule", False)
