"""Claim and record have two renderings of one description (`models.COPIED`): the ORM path
and PostgreSQL's one-statement path. Both run here on equal rows and must write the same."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_jobkit.db import postgres
from django_jobkit.models import COPIED, JobProcess, JobRequest, JobResult
from tests.jobs import EchoJob

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMED_BY = {
    "host": "h1",
    "pid": 4242,
    "pid_start_time": 987654,
    "worker_name": "w1@h1",
    "worker_pid": 4241,
    "celery_task_id": "t-1",
    "device": "GPU-5f1b",
}
#: Columns each path fills on its own (keys, fresh uuids, clocks).
OWN = {
    "id",
    "uuid",
    "job_process_uuid",
    "started_at",
    "ended_at",
    "job_request_uuid",
    "root_uuid",
    "created_at",
}


@pytest.fixture
def on_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement renderings exist on PostgreSQL only")


def row(instance: Any) -> dict[str, Any]:
    fresh = type(instance).objects.get(pk=instance.pk)
    return {
        f.attname: getattr(fresh, f.attname)
        for f in fresh._meta.concrete_fields
        if f.attname not in OWN
    }


WHEN = timezone.now()
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def enqueue() -> JobRequest:
    request = EchoJob(1, "two", when=WHEN).run_in_worker(
        priority=3, retries=2, concurrency_key="", timeout=30
    )
    assert request is not None
    # Headers travel with the row: both claims and both records must carry them.
    request.headers = {"traceparent": TRACEPARENT}
    request.save(update_fields=["headers"])
    return request


def claim_both() -> tuple[JobProcess, JobProcess]:
    fast_request, orm_request = enqueue(), enqueue()
    assert postgres.usable("default")
    fast, early = JobRequest.objects.claim(fast_request.job_request_uuid, CLAIMED_BY)
    with transaction.atomic():  # inside a transaction the ORM path runs
        assert not postgres.usable("default")
        orm, early_too = JobRequest.objects.claim(orm_request.job_request_uuid, CLAIMED_BY)
    assert fast is not None and orm is not None and early is None and early_too is None
    return fast, orm


def test_both_claims_write_the_same_process(on_postgres):
    fast, orm = claim_both()
    assert row(fast) == row(orm)
    assert not JobRequest.objects.exists()
    # What the fast path returns is what it stored, as the ORM's returned instance is.
    for process in (fast, orm):
        stored = JobProcess.objects.get(pk=process.pk)
        for name in [*COPIED, "uuid", "host", "pid", "worker_pid", "celery_task_id"]:
            assert getattr(process, name) == getattr(stored, name), name


def test_both_records_write_the_same_result(on_postgres):
    fast, orm = claim_both()
    # The last progress a job reported is in its row (and on the worker's instance) at the end.
    for process in (fast, orm):
        process.progress, process.progress_message = 0.75, "3/4"
        process.save(update_fields=["progress", "progress_message"])
    values = {
        "status": JobResult.Status.SUCCESSFUL,
        "error": "",
        "traceback": "",
        "error_class": "",
        "return_value": {"n": [1, 2], "s": "x"},
        "started_at": timezone.now(),
        "ended_at": timezone.now(),
    }
    fast_result = JobProcess.objects.finish(fast, dict(values))
    with transaction.atomic():
        orm_result = JobProcess.objects.finish(orm, dict(values))
    assert fast_result is not None and orm_result is not None
    assert row(fast_result) == row(orm_result)
    assert fast_result.headers == orm_result.headers == {"traceparent": TRACEPARENT}
    for result in (fast_result, orm_result):
        stored = JobResult.objects.get(pk=result.pk)
        assert (stored.progress, stored.progress_message) == (0.75, "3/4")
        assert (result.progress, result.progress_message) == (0.75, "3/4")
    assert (fast_result.job_process_uuid, orm_result.job_process_uuid) == (fast.uuid, orm.uuid)
    assert not JobProcess.objects.exists()
    # A second recording of an ended attempt writes nothing, on either path.
    assert JobProcess.objects.finish(fast, dict(values)) is None
    with transaction.atomic():
        assert JobProcess.objects.finish(orm, dict(values)) is None
    assert JobResult.objects.count() == 2


def test_neither_claim_takes_a_request_before_its_start_time(on_postgres):
    request = EchoJob().run_in_worker(delay=30)
    assert request is not None
    process, early = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is None and early is not None
    with transaction.atomic():
        process, early = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is None and early is not None
    assert JobRequest.objects.filter(pk=request.pk).exists()
