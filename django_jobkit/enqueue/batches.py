"""`run_batch`: many jobs enqueued together, and one job to run once they have all ended.

One transaction writes the `JobBatch` row and every child's request (the bulk path: one
INSERT for the plain ones), each carrying the batch's uuid; `then` is checked now and stored
on the batch, not enqueued. Which child's end completes the batch is decided in the query
layer (`JobBatch.objects.complete_if_done`), and `then` enqueued by `enqueue_then`, in that
child's record transaction; the sweeper completes what a killed worker left undecided.

A batch started inside a job of another batch nests in it (as Sidekiq's batches do): the
outer batch does not complete while the inner one is open, and the inner `then` is enqueued
as one more child of the outer batch, so that the outer `then` runs after it. The worker
names the running job's batch through `inside`; `run_batch` reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import router, transaction

from ..exceptions import InvalidJobOption
from ..parameters import decode_arguments
from ..registry import job_class_for
from .service import build_request, enqueue, insert_all

if TYPE_CHECKING:
    from ..jobs import Job
    from ..models import JobBatch, JobRequest

#: The options of `then` kept on the batch and given to its enqueue.
THEN_OPTIONS = ("queue", "priority", "retries", "concurrency_key", "timeout")

#: The batch of the job running in this context (None outside a worker or a batch).
_enclosing: ContextVar[uuid.UUID | None] = ContextVar("jobkit_enclosing_batch", default=None)


@contextmanager
def inside(batch_uuid: uuid.UUID | None) -> Iterator[None]:
    """Run a job of batch `batch_uuid`: a batch it starts nests in that one."""
    token = _enclosing.set(batch_uuid)
    try:
        yield
    finally:
        _enclosing.reset(token)


def run_batch(jobs: Iterable[Job], then: Job | None = None, name: str = "") -> JobBatch:
    """Enqueue `jobs` as one batch and return it; `then` runs once every one has a final
    result (succeeded, failed for good or cancelled), exactly once, and sees `self.batch`.

    Every job (and `then`) is checked before anything is written. A child refused by its
    concurrency key's dedup is left out of the batch (`batch.total` counts those written).
    Called by a job of a batch, the new batch nests in that one (see the module's note).
    """
    from ..models import JobBatch, JobRequest

    jobs = list(jobs)
    if not jobs:
        raise InvalidJobOption("run_batch needs at least one job")
    if not isinstance(name, str) or len(name) > 255:
        raise InvalidJobOption(f"name={name!r}: pass a str of at most 255 characters")
    batch_uuid = uuid.uuid4()
    requests = [build_request(job, batch_uuid=batch_uuid) for job in jobs]
    then_spec = None
    if then is not None:
        planned = build_request(then)
        then_spec = {
            "job_class": planned.job_class,
            "parameters": planned.parameters,
            **{option: getattr(planned, option) for option in THEN_OPTIONS},
        }
    using = router.db_for_write(JobRequest)
    with transaction.atomic(using=using, savepoint=False):
        batch = JobBatch.objects.using(using).create(
            uuid=batch_uuid, name=name, total=0, then=then_spec, parent_uuid=_enclosing.get()
        )
        written = [r for r in insert_all(jobs, requests, using) if r is not None]
        batch.total = len(written)
        JobBatch.objects.using(using).filter(pk=batch.pk).update(total=batch.total)
        if not written:  # every child refused: the batch is complete as it starts
            completed = JobBatch.objects.complete_if_done(batch_uuid)
            if completed is not None:
                enqueue_then(completed)
    batch.refresh_from_db()
    return batch


def enqueue_then(batch: JobBatch) -> JobRequest | None:
    """Enqueue the batch's `then` job, inside the caller's transaction (the one that completed
    the batch), and point the batch at it; None when there is none or its dedup refused it.

    Where the batch nests, `then` becomes a child of the parent batch; a nested batch with no
    `then` (or one refused) may have been the last thing its parent waited for, and completes
    it here, in the same transaction.
    """
    from ..models import JobBatch

    parent = JobBatch.objects.lock_open(batch.parent_uuid) if batch.parent_uuid else None
    request = None
    spec: dict[str, Any] | None = batch.then
    if spec:
        args, kwargs = decode_arguments(spec["parameters"])
        job = job_class_for(spec["job_class"])(*args, **kwargs)
        request = enqueue(
            job,
            parameters=spec["parameters"],
            batch_uuid=parent.uuid if parent is not None else None,
            **{option: spec[option] for option in THEN_OPTIONS},
        )
        if request is not None:
            JobBatch.objects.set_then(batch.pk, request.root_uuid)
            batch.then_root_uuid = request.root_uuid
            if parent is not None:
                JobBatch.objects.add_child(parent.pk)
    if parent is not None and request is None:
        completed = JobBatch.objects.complete_if_done(parent.uuid)
        if completed is not None:
            enqueue_then(completed)
    return request
