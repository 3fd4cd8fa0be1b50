"""Batches through the real enqueue, claim and record steps (no worker): one transaction, the
child whose end leaves none waiting or running enqueues `then` in its record transaction, once;
the sweeper completes what a killed worker left; bad input writes nothing.

Real workers running batches are in tests/worker/test_batches.py."""

from __future__ import annotations

from typing import Any

import pytest

from django_jobkit import run_batch
from django_jobkit.enqueue import batches
from django_jobkit.exceptions import InvalidJobOption, InvalidJobParameter
from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobBatch, JobRequest, JobResult
from tests.integration.test_renderings import CLAIMED_BY
from tests.jobs import BatchChildJob, BatchThenJob, NoopJob

pytestmark = pytest.mark.django_db(transaction=True)

S = JobResult.Status


@pytest.fixture
def queue(fresh_queue: Any) -> str:
    return str(fresh_queue())


def finish(request: Any, status: str = S.SUCCESSFUL, **outcome: Any) -> JobResult:
    process, _ = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is not None
    result = record(process, Outcome(status, **outcome))
    assert result is not None
    return result


def children(batch: JobBatch) -> list[JobRequest]:
    return list(JobRequest.objects.filter(batch_uuid=batch.uuid).order_by("pk"))


def then_requests(batch: JobBatch) -> list[JobRequest]:
    return list(JobRequest.objects.filter(job_class="tests.jobs.BatchThenJob"))


def test_then_is_enqueued_once_by_the_last_child_to_end(queue):
    batch = run_batch([BatchChildJob(i) for i in range(3)], then=BatchThenJob("t"), name="b")
    assert (batch.total, batch.name, batch.done) == (3, "b", False)
    waiting = children(batch)
    assert len(waiting) == 3 and all(r.sent_at is not None for r in waiting)
    assert batch.counts() == {
        "waiting": 3,
        "running": 0,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 0,
    }

    finish(waiting[0])
    finish(waiting[1], S.ERRORED, retryable=False)
    assert not then_requests(batch)
    finish(waiting[2])
    then = then_requests(batch)
    assert len(then) == 1 and then[0].batch_uuid is None  # not a child of its own batch
    batch.refresh_from_db()
    assert batch.done and batch.then_root_uuid == then[0].root_uuid
    assert (batch.succeeded, batch.failed, batch.cancelled) == (2, 1, 0)
    assert Sweeper().complete_batches() == 0  # nothing left to complete: no second then
    assert len(then_requests(batch)) == 1
    then[0].cancel()


def test_a_retried_child_keeps_the_batch_open_until_its_last_attempt(queue):
    batch = run_batch([BatchChildJob(1)], then=BatchThenJob("r"))
    (child,) = children(batch)
    JobRequest.objects.filter(pk=child.pk).update(retries=1)
    child.refresh_from_db()
    first = finish(child, S.ERRORED)
    assert first.retry_job_request_uuid is not None and not then_requests(batch)
    retry = JobRequest.objects.get(job_request_uuid=first.retry_job_request_uuid)
    assert retry.batch_uuid == batch.uuid  # the retry stays in the batch
    finish(retry)
    assert len(then_requests(batch)) == 1
    assert JobBatch.objects.get(pk=batch.pk).succeeded == 1
    then_requests(batch)[0].cancel()


def test_the_sweeper_completes_a_batch_a_killed_worker_left(queue):
    batch = run_batch([BatchChildJob(1)], then=BatchThenJob("s"))
    (child,) = children(batch)
    # As if the worker died after recording the child but before deciding the batch.
    process, _ = JobRequest.objects.claim(child.job_request_uuid, CLAIMED_BY)
    process.delete()
    assert not JobBatch.objects.get(pk=batch.pk).done
    assert Sweeper().complete_batches() == 1
    assert Sweeper().complete_batches() == 0
    assert JobBatch.objects.get(pk=batch.pk).done and len(then_requests(batch)) == 1
    then_requests(batch)[0].cancel()


def test_cancelling_a_batch_cancels_its_waiting_children_and_then_runs(queue):
    batch = run_batch([BatchChildJob(i) for i in range(4)], then=BatchThenJob("c"))
    assert batch.cancel() == 4
    assert not children(batch)
    assert batch.counts()["cancelled"] == 4
    Sweeper().complete_batches()
    assert JobBatch.objects.get(pk=batch.pk).done and len(then_requests(batch)) == 1
    then_requests(batch)[0].cancel()


def test_a_batch_started_by_a_child_nests_and_holds_its_parent_open(queue):
    outer = run_batch([BatchChildJob(0)], then=BatchThenJob("outer"))
    (child,) = children(outer)
    process, _ = JobRequest.objects.claim(child.job_request_uuid, CLAIMED_BY)
    assert process is not None
    with batches.inside(process.batch_uuid):  # as the worker runs the child
        inner = run_batch([BatchChildJob(i) for i in (1, 2)], then=BatchThenJob("inner"))
    assert inner.parent_uuid == outer.uuid
    top = run_batch([BatchChildJob(3)])
    assert top.parent_uuid is None  # outside a job: top level
    top.cancel()
    assert Sweeper().complete_batches() == 1  # the cancelled top-level one

    record(process, Outcome(S.SUCCESSFUL))
    assert not JobBatch.objects.get(pk=outer.pk).done  # its nested batch is open
    assert Sweeper().complete_batches() == 0
    for request in children(inner):
        finish(request)
    assert JobBatch.objects.get(pk=inner.pk).done
    (inner_then,) = then_requests(inner)
    assert inner_then.batch_uuid == outer.uuid  # one more child of the outer batch
    outer.refresh_from_db()
    assert (outer.done, outer.total, outer.waiting) == (False, 2, 1)

    finish(inner_then)
    outer.refresh_from_db()
    assert outer.done and outer.succeeded == 2
    (outer_then,) = JobRequest.objects.filter(root_uuid=outer.then_root_uuid)
    assert outer_then.batch_uuid is None
    outer_then.cancel()


def test_a_nested_batch_without_then_completes_its_parent_as_it_completes(queue):
    outer = run_batch([BatchChildJob(0)], then=BatchThenJob("outer"))
    (child,) = children(outer)
    process, _ = JobRequest.objects.claim(child.job_request_uuid, CLAIMED_BY)
    with batches.inside(outer.uuid):
        inner = run_batch([BatchChildJob(1)])
    record(process, Outcome(S.SUCCESSFUL))
    assert not then_requests(outer)
    finish(children(inner)[0])
    assert JobBatch.objects.get(pk=inner.pk).done and JobBatch.objects.get(pk=outer.pk).done
    (then,) = then_requests(outer)
    assert then.batch_uuid is None
    then.cancel()


def test_the_sweeper_completes_nested_batches_a_killed_worker_left(queue):
    outer = run_batch([BatchChildJob(0)])
    (child,) = children(outer)
    process, _ = JobRequest.objects.claim(child.job_request_uuid, CLAIMED_BY)
    with batches.inside(outer.uuid):
        inner = run_batch([BatchChildJob(1)])
    record(process, Outcome(S.SUCCESSFUL))
    # The inner child's worker died after recording it, before deciding either batch.
    process, _ = JobRequest.objects.claim(children(inner)[0].job_request_uuid, CLAIMED_BY)
    process.delete()
    assert Sweeper().complete_batches() == 1  # the inner one, which completes the outer
    assert JobBatch.objects.get(pk=inner.pk).done and JobBatch.objects.get(pk=outer.pk).done
    assert Sweeper().complete_batches() == 0


def test_cancelling_a_batch_cancels_the_batches_nested_in_it(queue):
    outer = run_batch([BatchChildJob(0), BatchChildJob(1)], then=BatchThenJob("outer"))
    first = children(outer)[0]
    process, _ = JobRequest.objects.claim(first.job_request_uuid, CLAIMED_BY)
    with batches.inside(outer.uuid):
        inner = run_batch([BatchChildJob(i) for i in (2, 3)], then=BatchThenJob("inner"))
    record(process, Outcome(S.SUCCESSFUL))
    assert outer.cancel() == 3  # the outer's waiting child and the inner's two
    assert Sweeper().complete_batches() == 1  # the inner (cancelled waiting: the sweeper's)
    assert JobBatch.objects.get(pk=inner.pk).done
    (inner_then,) = JobRequest.objects.filter(job_class="tests.jobs.BatchThenJob")
    assert inner_then.batch_uuid == outer.uuid  # the inner then still runs, in the outer
    finish(inner_then)
    outer.refresh_from_db()
    assert outer.done and (outer.succeeded, outer.cancelled) == (2, 1)
    JobRequest.objects.get(root_uuid=outer.then_root_uuid).cancel()


def test_bad_input_writes_nothing():
    with pytest.raises(InvalidJobOption, match="at least one job"):
        run_batch([])
    with pytest.raises(InvalidJobParameter):
        run_batch([NoopJob(1), NoopJob(object())])
    with pytest.raises(InvalidJobParameter):
        run_batch([NoopJob(1)], then=NoopJob(object()))
    assert not JobBatch.objects.exists() and not JobRequest.objects.exists()


def test_ten_thousand_children_in_one_batch(queue, celery_app):
    batch = run_batch([NoopJob(i, queue=queue) for i in range(10_000)], name="big")
    try:
        assert batch.total == 10_000
        assert JobRequest.objects.filter(batch_uuid=batch.uuid).count() == 10_000
        assert not JobRequest.objects.filter(batch_uuid=batch.uuid, sent_at__isnull=True).exists()
    finally:
        # Drop the 10,000 messages now: on the filesystem transport every later poll of any
        # queue would list their files until the run's end.
        with celery_app.connection_for_write() as connection:
            connection.default_channel.queue_purge(queue)


def test_the_batches_page_lists_counts_in_one_statement_and_a_batch_its_children(
    queue, admin_client, django_assert_max_num_queries
):
    batches = [
        run_batch([BatchChildJob(i) for i in range(3)], then=BatchThenJob(f"a{n}"), name=f"b{n}")
        for n in range(3)
    ]
    finish(children(batches[0])[0])
    finish(children(batches[0])[1], S.ERRORED, retryable=False)
    with django_assert_max_num_queries(12):  # session, user, count, the list: not per row
        page = admin_client.get("/admin/django_jobkit/jobbatch/")
    text = page.content.decode()
    assert page.status_code == 200 and "b0" in text and "b2" in text
    assert "2 of 3 ended" in text and "1 succeeded" in text and "1 failed" in text
    detail = admin_client.get(f"/admin/django_jobkit/jobbatch/{batches[0].pk}/change/")
    body = detail.content.decode()
    assert detail.status_code == 200
    assert body.count("/admin/django_jobkit/jobresult/") >= 2  # the two ended children
    assert "/admin/django_jobkit/jobrequest/" in body  # the waiting one
    for batch in batches:
        batch.cancel()


def test_a_batch_page_links_the_batch_it_nests_in_and_those_nested_in_it(queue, admin_client):
    outer = run_batch([BatchChildJob(0)], name="outer")
    with batches.inside(outer.uuid):
        inner = run_batch([BatchChildJob(1)], name="inner")
    body = admin_client.get(f"/admin/django_jobkit/jobbatch/{outer.pk}/change/").content.decode()
    assert f"/admin/django_jobkit/jobbatch/{inner.pk}/change/" in body and "open" in body
    body = admin_client.get(f"/admin/django_jobkit/jobbatch/{inner.pk}/change/").content.decode()
    assert f"/admin/django_jobkit/jobbatch/{outer.pk}/change/" in body
    outer.cancel()
