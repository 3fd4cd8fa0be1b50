"""A real worker runs jobs: claim, run, record, and the request/process rows are gone after."""

from __future__ import annotations

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob

pytestmark = pytest.mark.worker


def test_inprocess_worker_runs_a_job_and_records_its_result(inprocess_worker):
    request = NoopJob({"answer": 42}).run_in_worker()
    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == {"answer": 42}
    assert result.job_request_uuid == request.job_request_uuid
    assert not JobRequest.objects.exists()
    assert not JobProcess.objects.exists()


def test_worker_subprocess_runs_a_job(start_worker_process):
    start_worker_process(queues=["default"], concurrency=2)
    request = NoopJob("hello").run_in_worker()
    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "hello"
    assert result.pid and result.host and result.worker_name.startswith("w")
    assert result.celery_task_id == str(request.job_request_uuid)


@pytest.mark.django_db(transaction=True, databases=["default", "replica"])
def test_a_worker_behind_a_stale_replica_router_claims_and_records_on_the_primary(
    start_worker_process,
):
    from django.test import override_settings

    start_worker_process(concurrency=2, env={"JOBKIT_TEST_STALE_REPLICA": "1"})
    with override_settings(DATABASE_ROUTERS=["tests.routers.StaleReplicaRouter"]):
        requests = [NoopJob(i).run_in_worker() for i in range(6)]
        results = [request.wait(timeout=30) for request in requests]
        assert [r.return_value for r in results] == list(range(6))
        assert all(r.status == JobResult.Status.SUCCESSFUL for r in results)
        assert not JobResult.objects.exists()  # the replica saw none of it
    assert JobResult.objects.using("default").count() == 6
    assert not JobProcess.objects.using("default").exists()
