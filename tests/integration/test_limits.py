"""Running limits through the real enqueue, claim and record steps (no worker): a job over its
limit waits unsent; the one that ends gives its slot, in its own record transaction, to the
next by priority then age; cancels and lost attempts free slots; the sweeper sends none that
wait and repairs what a missed release left.

Several real workers under a limit are in tests/worker/test_limits.py."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from django_jobkit import bulk_run_in_worker
from django_jobkit.execution.outcomes import Outcome, end_process, record
from django_jobkit.execution.sweeper import Sweeper
from django_jobkit.models import JobHold, JobRateStart, JobRequest, JobResult
from tests.integration.test_renderings import CLAIMED_BY
from tests.jobs import LimitedJob, NoopJob, RatedJob

pytestmark = pytest.mark.django_db(transaction=True)

S = JobResult.Status


@pytest.fixture
def queue(fresh_queue: Any) -> str:
    return str(fresh_queue())


def key() -> str:
    return f"k-{uuid.uuid4().hex[:8]}"


def sent(requests: list[Any]) -> list[bool]:
    rows = {r.pk: r for r in JobRequest.objects.filter(pk__in=[r.pk for r in requests])}
    return [rows[r.pk].sent_at is not None if r.pk in rows else False for r in requests]


def finish(request: Any, status: str = S.SUCCESSFUL) -> JobResult:
    process, _ = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is not None, "the request was not sent: it could not be claimed"
    result = record(process, Outcome(status))
    assert result is not None
    return result


def test_jobs_over_the_limit_wait_unsent_and_the_next_is_sent_when_one_ends(queue):
    k = key()
    requests = [LimitedJob(k, running=2).run_in_worker(queue=queue) for _ in range(4)]
    assert sent(requests) == [True, True, False, False]
    assert requests[0].sent_at is not None and requests[2].sent_at is None
    assert JobHold.objects.filter(key=k, held=True).count() == 2

    Sweeper().send_waiting()
    assert sent(requests) == [True, True, False, False]  # the sweeper sends none that wait

    finish(requests[0])
    assert sent(requests[1:]) == [True, True, False]  # at once, in the record's transaction
    finish(requests[1])
    finish(requests[2])
    finish(requests[3])
    assert not JobHold.objects.filter(key=k).exists()
    assert JobResult.objects.filter(status=S.SUCCESSFUL).count() == 4


def test_the_next_slot_goes_by_priority_then_age(queue):
    k = key()
    first = LimitedJob(k).run_in_worker(queue=queue)
    old = LimitedJob(k).run_in_worker(queue=queue)
    urgent = LimitedJob(k).run_in_worker(queue=queue, priority=5)
    assert sent([first, old, urgent]) == [True, False, False]
    finish(first)
    assert sent([old, urgent]) == [False, True]
    finish(urgent)
    assert sent([old]) == [True]
    finish(old)


def test_a_job_with_two_limits_is_sent_only_when_it_holds_both(queue):
    a, b = key(), key()
    on_b = LimitedJob(b).run_in_worker(queue=queue)
    both = LimitedJob(a, and_key=b).run_in_worker(queue=queue)
    assert sent([on_b, both]) == [True, False]
    assert JobHold.objects.get(job_request_uuid=both.job_request_uuid, key=a).held  # a: free
    finish(on_b)
    assert sent([both]) == [True]
    finish(both)


def test_a_cancel_frees_its_slot_and_the_sweeper_sends_the_next(queue):
    k = key()
    held, waiting = (LimitedJob(k).run_in_worker(queue=queue) for _ in range(2))
    assert sent([held, waiting]) == [True, False]
    assert held.cancel() is not None
    report = Sweeper().sweep()
    assert report.sent == 1 and sent([waiting]) == [True]
    finish(waiting)


def test_a_lost_attempt_frees_its_slot_and_its_retry_waits_its_turn(queue):
    k = key()
    running = LimitedJob(k).run_in_worker(queue=queue, retries=1)
    waiting = LimitedJob(k).run_in_worker(queue=queue)
    process, _ = JobRequest.objects.claim(running.job_request_uuid, CLAIMED_BY)
    lost = end_process(process, "its worker died")
    assert lost.status == S.LOST and lost.retry_job_request_uuid is not None
    retry = JobRequest.objects.get(job_request_uuid=lost.retry_job_request_uuid)
    # The slot went to the job that waited first; the retry queues behind it.
    assert sent([waiting, retry]) == [True, False]
    finish(waiting)
    assert sent([retry]) == [True]
    finish(retry)


def test_the_sweeper_repairs_a_release_that_was_missed(queue):
    k = key()
    gone, waiting = (LimitedJob(k).run_in_worker(queue=queue) for _ in range(2))
    # As if its worker died between deleting the request and freeing the slot.
    JobRequest.objects.filter(pk=gone.pk).delete()
    assert sent([waiting]) == [False]
    assert Sweeper().sweep().sent == 1
    assert sent([waiting]) == [True]
    assert not JobHold.objects.filter(job_request_uuid=gone.job_request_uuid).exists()
    finish(waiting)


def test_bulk_enqueue_admits_up_to_the_limit_and_plain_jobs_hold_nothing(queue):
    k = key()
    requests = bulk_run_in_worker(
        [LimitedJob(k, running=3) for _ in range(5)] + [NoopJob(1)], queue=queue
    )
    assert sent(requests) == [True, True, True, False, False, True]
    assert requests[5].limits is None
    assert not JobHold.objects.filter(job_request_uuid=requests[5].job_request_uuid).exists()
    for request in requests[:3]:
        finish(request)
    assert sent(requests[3:5]) == [True, True]


def test_the_requests_list_says_which_limit_a_request_waits_for(queue, admin_client):
    k = key()
    held, waiting = (LimitedJob(k, running=1).run_in_worker(queue=queue) for _ in range(2))
    page = admin_client.get("/admin/django_jobkit/jobrequest/").content.decode()
    assert f"waiting for a slot of running limit {k} (at most 1 running)" in page
    assert page.count("waiting for a slot of running limit") == 1  # the held one is not
    # The waiting one's page names the attempt holding the slot, linked.
    process, _ = JobRequest.objects.claim(held.job_request_uuid, CLAIMED_BY)
    detail = admin_client.get(f"/admin/django_jobkit/jobrequest/{waiting.pk}/change/")
    body = detail.content.decode()
    assert f"{k} (1 of at most 1)" in body
    assert f"/admin/django_jobkit/jobprocess/{process.pk}/change/" in body
    assert "LimitedJob</a> running" in body
    record(process, Outcome(S.SUCCESSFUL))
    finish(waiting)


def test_the_requests_list_says_a_rated_request_waits_for_its_window(queue, admin_client):
    k = key()
    requests = [RatedJob(k, "1/h", queue=queue).run_in_worker(queue=queue) for _ in range(2)]
    process, _ = JobRequest.objects.claim(requests[0].job_request_uuid, CLAIMED_BY)
    record(process, Outcome(S.SUCCESSFUL))
    process, _ = JobRequest.objects.claim(requests[1].job_request_uuid, CLAIMED_BY)
    assert process is None  # over the rate: dated an hour on, left for the sweeper
    assert JobRequest.objects.get(pk=requests[1].pk).start_at is not None
    page = admin_client.get("/admin/django_jobkit/jobrequest/").content.decode()
    assert "delayed, or its rate limit&#x27;s window full, until" in page
    JobRequest.objects.get(pk=requests[1].pk).cancel()


def test_a_rate_limit_lets_n_start_per_window_and_dates_the_next(queue):
    k = key()
    requests = [RatedJob(k, "2/m", queue=queue).run_in_worker(queue=queue) for _ in range(3)]
    assert sent(requests) == [True, True, True]  # a rate is checked where jobs start
    for request in requests[:2]:
        process, early = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
        assert process is not None
        record(process, Outcome(S.SUCCESSFUL))
    process, early = JobRequest.objects.claim(requests[2].job_request_uuid, CLAIMED_BY)
    assert process is None and early is not None  # over the rate: sent again for later
    first = JobRateStart.objects.filter(key=k).order_by("started_at").first()
    assert early.start_at == first.started_at + timedelta(seconds=60)
    row = JobRequest.objects.get(pk=requests[2].pk)
    assert row.start_at == early.start_at and row.sent_at is not None  # an ETA, not far off
    assert JobRateStart.objects.filter(key=k).count() == 2
    row.cancel()


def test_a_request_says_why_it_waits(queue):
    k = key()
    held = LimitedJob(k).run_in_worker(queue=queue)
    waiting = LimitedJob(k).run_in_worker(queue=queue)
    reason = waiting.waiting_reason()
    assert reason.startswith(f"waiting for a slot of running limit {k} (at most 1 running;")
    assert f"held by tests.jobs.LimitedJob {held.job_request_uuid}" in reason
    assert held.waiting_reason() == f"sent to queue {queue}, waiting for a worker"
    later = NoopJob(1, queue=queue).run_in_worker(queue=queue, delay=3600)
    assert later.waiting_reason().startswith("not before ")
    assert later.waiting_reason().endswith("(its delay)")
    later.cancel()
    finish(held)
    finish(waiting)
