"""The `Job` class users subclass, and `run_in_worker`, the enqueue path.

Enqueue is one transaction: (lock the concurrency key) → `should_enqueue` → INSERT. The Celery
message is sent only once that transaction commits, so a job enqueued in a view whose
transaction rolls back never exists and never runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache, partial
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import router, transaction
from django.utils import timezone

from . import dispatch, locks, registry
from .conf import jobkit_settings
from .exceptions import InvalidJobOption, InvalidJobParameter
from .parameters import encode_arguments

if TYPE_CHECKING:
    from .models import JobRequest, JobResult
    from .scheduling import Schedule

Delay = float | timedelta | datetime


class Job:
    """A unit of background work. Subclass it, define `run()`, decorate with `@register_job`.

    The arguments given to `__init__` are captured and stored as JSON; the worker builds the
    job again from them, so `__init__` should only keep its arguments.
    """

    #: A cron `Schedule` on which the job is enqueued by the worker cluster.
    schedule: ClassVar[Schedule | None] = None

    _jobkit_args: tuple[Any, ...]
    _jobkit_kwargs: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any) -> Job:
        instance = super().__new__(cls)
        instance._jobkit_args = args
        instance._jobkit_kwargs = kwargs
        return instance

    def run(self) -> Any:
        """The work. Its JSON-serialisable return value is stored on the result."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    def default_queue(self) -> str:
        return "default"

    def default_priority(self) -> int:
        """Higher runs first: 10 before 0 before -10."""
        return 0

    def default_retries(self) -> int:
        return 0

    def default_concurrency_key(self) -> str:
        """Non-empty: at most one pending-or-running job per (job class, key)."""
        return ""

    def calculate_retry_delay(self, attempt: int) -> int:
        """Seconds to wait before retry `attempt` (1 for the first retry)."""
        return 0

    def default_timeout(self) -> int | None:
        """Seconds the job may run before it is stopped and recorded ERRORED; None: no limit."""
        return None

    def on_aborted(self, result: JobResult) -> None:
        """Called with the LOST or CANCELLED result of an attempt that did not end by itself."""

    def should_enqueue(self, concurrency_key: str) -> bool:
        """Decide, under the key's lock, whether to write this job; False skips it.

        The default refuses a second job while one with the same class and non-empty key is
        waiting or running. Override for other policies ("at most 3 running per tenant"): the
        lock makes them race-free too.
        """
        if not concurrency_key:
            return True
        from .models import pending_or_running

        return not pending_or_running(registry.name_for(type(self)), concurrency_key)

    def run_in_worker(
        self,
        *,
        queue: str | None = None,
        delay: Delay | None = None,
        priority: int | None = None,
        retries: int | None = None,
        retry_attempt: int = 0,
        concurrency_key: str | None = None,
        timeout: int | None = None,
    ) -> JobRequest | None:
        """Write a `JobRequest` and send it to a worker once the transaction commits.

        Returns the request, or None when `should_enqueue` said no. Options not given fall
        back to the `default_*` hooks.
        """
        return enqueue(
            self,
            queue=queue,
            delay=delay,
            priority=priority,
            retries=retries,
            retry_attempt=retry_attempt,
            concurrency_key=concurrency_key,
            timeout=timeout,
        )


def enqueue(job: Job, **options: Any) -> JobRequest | None:
    """Enqueue one job: the body of `run_in_worker`; `options` are `build_request`'s."""
    from .models import JobRequest

    request = build_request(job, **options)
    using = router.db_for_write(JobRequest)
    if not request.concurrency_key and type(job).should_enqueue is Job.should_enqueue:
        # Nothing to decide under a lock: the INSERT alone is atomic (in autocommit mode it is
        # its own transaction: one round trip instead of BEGIN, INSERT, COMMIT).
        insert_one(request, using)
    else:
        with transaction.atomic(using=using, savepoint=False):
            if request.concurrency_key:
                locks.acquire(using, request.job_class, request.concurrency_key)
            if not job.should_enqueue(request.concurrency_key):
                return None
            insert_one(request, using)
    if request.sent_at is not None:
        # Runs at once in autocommit mode, else when the caller's transaction commits.
        transaction.on_commit(partial(dispatch.send, request), using=using)
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
    from .models import JobRequest

    jobs = list(jobs)
    requests = [
        build_request(
            job, queue=queue, delay=delay, priority=priority, retries=retries, timeout=timeout
        )
        for job in jobs
    ]
    using = router.db_for_write(JobRequest)
    results: list[JobRequest | None] = list(requests)
    with transaction.atomic(using=using, savepoint=False):
        plain = []
        for i, (job, request) in enumerate(zip(jobs, requests, strict=True)):
            if not request.concurrency_key and type(job).should_enqueue is Job.should_enqueue:
                plain.append(request)
                continue
            locks.acquire(using, request.job_class, request.concurrency_key)
            if job.should_enqueue(request.concurrency_key):
                request.save(using=using, force_insert=True)
            else:
                results[i] = None
        insert_many(plain, using)
        to_send = [r for r in results if r is not None and r.sent_at is not None]
        if to_send:
            transaction.on_commit(partial(dispatch.send_many, to_send), using=using)
    return results


def insert_one(request: JobRequest, using: str) -> None:
    """INSERT one request; on PostgreSQL with a statement compiled once, not per call.

    The ORM compiles its INSERT anew for every save (about 0.2 ms of Python here), a third
    of what the database itself takes for the INSERT and its commit.
    """
    from django.db import connections

    connection = connections[using]
    if connection.vendor != "postgresql":
        request.save(using=using, force_insert=True)
        return
    fields, sql = _insert_statement(using)
    params = [
        json.dumps(value) if json_field else value
        for value, json_field in ((getattr(request, f.attname), j) for f, j in fields)
    ]
    from .fastpath import insert_returning_id  # imports the models: not at module level

    request.pk = insert_returning_id(using, sql, params)
    request._state.adding = False
    request._state.db = using


@cache
def _insert_statement(using: str) -> tuple[list[tuple[Any, bool]], str]:
    from django.db import connections

    from .models import JobRequest

    connection = connections[using]
    meta = JobRequest._meta
    fields = [
        (f, f.get_internal_type() == "JSONField") for f in meta.concrete_fields if not f.primary_key
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f, _ in fields)
    values = ", ".join("%s::jsonb" if is_json else "%s" for _, is_json in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({values}) "
        f"RETURNING {connection.ops.quote_name(meta.pk.column)}"
    )
    return fields, sql


def insert_many(requests: list[JobRequest], using: str) -> None:
    """INSERT many requests; on PostgreSQL one statement over arrays, setting their pks.

    Django's `bulk_create` prepares every value of every row in Python (about 70 µs a row
    here); `INSERT ... SELECT FROM unnest(arrays)` hands PostgreSQL one array per column, and
    only for the columns whose values differ: a column equal in every row is one value, and a
    column equal to another (a first attempt's root is its own uuid) reuses that one's array.
    Dumping arrays is psycopg's Python, per element.
    """
    from django.db import connections

    from .models import JobRequest

    connection = connections[using]
    if connection.vendor != "postgresql" or not requests:
        JobRequest.objects.using(using).bulk_create(requests, batch_size=1000)
        return
    meta = JobRequest._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    selected, scalars, arrays, array_types = [], [], [], []
    for field in fields:
        values = [getattr(r, field.attname) for r in requests]
        is_json = field.get_internal_type() == "JSONField"
        first = values[0]
        # The uuid stays an array even for one row: unnest needs one, RETURNING matches on it.
        if field.attname != "job_request_uuid" and all(value == first for value in values):
            scalars.append(json.dumps(first) if is_json else first)
            selected.append(f"%s::{'jsonb' if is_json else field.db_type(connection)}")
            continue
        if is_json:
            values = [json.dumps(v) for v in values]
        column = next((i for i, other in enumerate(arrays) if other == values), None)
        if column is None:
            column = len(arrays)
            arrays.append(values)
            array_types.append(_array_type(field, connection))
        selected.append(f"c{column}::jsonb" if is_json else f"c{column}")
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    unnest = ", ".join(f"%s::{t}" for t in array_types)
    names = ", ".join(f"c{i}" for i in range(len(arrays)))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
        f"SELECT {', '.join(selected)} FROM unnest({unnest}) AS t({names}) "
        f"RETURNING {connection.ops.quote_name(meta.pk.column)}, job_request_uuid"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*scalars, *arrays])
        pks = dict((uuid_, pk) for pk, uuid_ in cursor.fetchall())
    for request in requests:
        request.pk = pks[request.job_request_uuid]
        request._state.adding = False
        request._state.db = using


def _array_type(field: Any, connection: Any) -> str:
    if field.get_internal_type() == "JSONField":
        return "text[]"
    return f"{field.db_type(connection)}[]"


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
) -> JobRequest:
    """The unsaved request for a job: every option checked, hooks consulted, nothing written."""
    from .models import JobRequest

    job_class = registry.name_for(type(job))
    if parameters is None:
        parameters = encode_arguments(type(job).__init__, job._jobkit_args, job._jobkit_kwargs)
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
    request_uuid = uuid.uuid4()
    return JobRequest(
        job_class=job_class,
        parameters=parameters,
        queue=_check_queue(job.default_queue() if queue is None else queue),
        priority=_check_int("priority", job.default_priority() if priority is None else priority),
        retries=_check_int("retries", job.default_retries() if retries is None else retries, lo=0),
        retry_attempt=_check_int("retry_attempt", retry_attempt, lo=0),
        concurrency_key=_check_key(concurrency_key),
        timeout=None if timeout is None else _check_int("timeout", timeout, lo=1),
        job_request_uuid=request_uuid,
        root_uuid=root_uuid or request_uuid,
        start_at=start_at,
        created_at=now,
        sent_at=now if send_now else None,
    )


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
        raise TypeError(
            f"delay={delay!r} has type {type(delay).__name__}; pass seconds (int or float), "
            "a timedelta or an aware datetime"
        )
    if not seconds >= 0:  # also refuses NaN
        raise InvalidJobOption(f"delay={delay!r} is negative; pass a delay of 0 or more")
    if seconds == 0:
        return None
    return timezone.now() + timedelta(seconds=seconds)


def _check_int(name: str, value: Any, lo: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} has type {type(value).__name__}; pass an int")
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


def _check_queue(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobOption(f"queue={value!r} is not a queue name; pass a non-empty str")
    if len(value) > 255:
        raise InvalidJobOption(f"queue name {value[:40]!r}... is longer than 255 characters")
    return value


def _check_key(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"concurrency_key={value!r} has type {type(value).__name__}; pass a str")
    if len(value) > 255:
        raise InvalidJobOption(f"concurrency_key {value[:40]!r}... is longer than 255 characters")
    return value
