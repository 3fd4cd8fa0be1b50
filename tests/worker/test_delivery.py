"""A message only says "go look at request X": duplicates, strays and rollbacks run nothing."""

from __future__ import annotations

import logging
import uuid

import pytest
from django.db import transaction

from django_jobkit.enqueue import publish
from django_jobkit.execution.tasks import task_for
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import wait_for
from tests.jobs import AppendLineJob

pytestmark = pytest.mark.worker


def ignored(request_uuid) -> str:
    return f"request {request_uuid} is gone (already claimed or cancelled); ignoring"


def test_a_message_delivered_again_or_for_no_request_is_acknowledged_and_ignored(
    start_inprocess_worker, fresh_queue, tmp_path, caplog
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    # After the start: the worker's Django set-up configures logging again.
    caplog.set_level(logging.DEBUG, logger="django_jobkit.worker")
    runs = tmp_path / "runs.txt"
    request = AppendLineJob(str(runs)).run_in_worker(queue=queue)
    result = request.wait(timeout=30)

    task = task_for("tests.jobs.AppendLineJob")
    task.apply_async(args=[str(request.job_request_uuid)], queue=queue)  # delivered again
    stray = uuid.uuid4()
    task.apply_async(args=[str(stray)], queue=queue)  # a request that never existed

    def debug_lines() -> set[str]:
        return {
            r.getMessage()
            for r in caplog.records
            if r.name == "django_jobkit.worker" and r.levelno == logging.DEBUG
        }

    expected = {ignored(request.job_request_uuid), ignored(stray)}
    wait_for(lambda: expected <= debug_lines(), what="both messages to be ignored")
    # The worker is fine and goes on with the next job.
    later = AppendLineJob(str(runs), "later").run_in_worker(queue=queue).wait(timeout=30)
    assert later.status == JobResult.Status.SUCCESSFUL
    assert runs.read_text() == "ran\nlater\n"
    assert set(JobResult.objects.values_list("pk", flat=True)) == {result.pk, later.pk}
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()


def test_deliveries_of_one_request_racing_in_worker_children_run_it_once(
    start_worker_process, fresh_queue, tmp_path, monkeypatch
):
    monkeypatch.setenv("JOBKIT_LOG_LEVEL", "DEBUG")  # the worker's django_jobkit loggers
    queue = fresh_queue()
    runs = tmp_path / "runs.txt"
    with transaction.atomic():
        request = AppendLineJob(str(runs)).run_in_worker(queue=queue)
        transaction.on_commit(lambda: publish.send(request))  # a second message on commit
    # ... and a third one by hand: three messages for one request wait in the queue.
    task_for("tests.jobs.AppendLineJob").apply_async(
        args=[str(request.job_request_uuid)], queue=queue
    )

    # Three children, one message each (prefetch multiplier 1): they claim at the same time.
    worker = start_worker_process(queues=[queue], concurrency=3)
    result = request.wait(timeout=30)
    line = ignored(request.job_request_uuid)  # as the console handler of LOGGING writes it
    wait_for(
        lambda: worker.output().splitlines().count(line) == 2,
        what="the two other deliveries to be ignored",
    )

    assert result.status == JobResult.Status.SUCCESSFUL
    assert runs.read_text() == "ran\n"
    assert JobResult.objects.get() == result
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()


def test_a_job_enqueued_in_a_rolled_back_transaction_is_never_written_nor_run(
    start_inprocess_worker, fresh_queue, tmp_path
):
    queue = fresh_queue()
    start_inprocess_worker([queue])
    runs = tmp_path / "runs.txt"

    with pytest.raises(RuntimeError, match="the view failed"), transaction.atomic():
        request = AppendLineJob(str(runs), "rolled back").run_in_worker(queue=queue)
        assert JobRequest.objects.filter(job_request_uuid=request.job_request_uuid).exists()
        raise RuntimeError("the view failed")

    assert not JobRequest.objects.exists()
    later = AppendLineJob(str(runs), "later").run_in_worker(queue=queue).wait(timeout=30)
    assert later.status == JobResult.Status.SUCCESSFUL
    assert runs.read_text() == "later\n"
    assert list(JobResult.objects.values_list("job_request_uuid", flat=True)) == [
        later.job_request_uuid
    ]
