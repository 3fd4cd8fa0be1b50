"""`job_enqueuing` is sent for every request written, on every enqueue path, and only for
those: what a receiver puts in the headers is stored with the row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from django_jobkit import bulk_run_in_worker, run_batch, signals
from django_jobkit.models import JobRequest
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard() -> Iterator[list[Any]]:
    """The requests `job_enqueuing` was sent for, each stamped with a header as it went by."""
    seen: list[Any] = []

    def receiver(sender: Any, *, job: Any, request: JobRequest, **kwargs: Any) -> None:
        assert request.pk is None and sender is type(job)
        seen.append(request)
        request.headers = {**(request.headers or {}), "seen": len(seen)}

    signals.job_enqueuing.connect(receiver)
    try:
        yield seen
    finally:
        signals.job_enqueuing.disconnect(receiver)


def test_every_written_request_is_announced_before_its_insert(heard, fresh_queue):
    queue = fresh_queue()
    one = NoopJob(1, queue=queue).run_in_worker()
    keyed = NoopJob(2, queue=queue, key="k").run_in_worker()
    refused = NoopJob(3, queue=queue, key="k").run_in_worker()  # the key's dedup said no
    bulk = bulk_run_in_worker([NoopJob(4, queue=queue), NoopJob(5, queue=queue, key="b")])
    batch = run_batch([NoopJob(6, queue=queue)], then=NoopJob(7, queue=queue))

    assert refused is None
    (child,) = JobRequest.objects.filter(batch_uuid=batch.uuid)
    written = [one, keyed, *bulk, child]
    # `then` is written when the batch completes, not now: not announced yet either.
    assert [r.job_request_uuid for r in heard] == [r.job_request_uuid for r in written]
    stored = JobRequest.objects.in_bulk([r.pk for r in written])
    assert [stored[r.pk].headers for r in written] == [{"seen": i} for i in range(1, 6)]
