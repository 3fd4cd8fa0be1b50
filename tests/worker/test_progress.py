"""`Job.set_progress` in a real worker: stored on the running process through a connection of
its own (a transaction of the job's cannot hide or undo it), flushed and copied to the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from django_jobkit.models import JobProcess, JobResult
from tests.conftest import wait_for
from tests.jobs import ProgressFloodJob, ProgressInAtomicJob, ProgressStepsJob

pytestmark = pytest.mark.worker


def progress_of(request_uuid: object) -> tuple[float | None, str] | None:
    row = JobProcess.objects.filter(job_request_uuid=request_uuid).first()
    return None if row is None else (row.progress, row.progress_message)


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite has one writer: the open transaction holds it"
)
def test_progress_inside_the_jobs_own_transaction_is_seen_and_survives_its_rollback(
    start_worker_process, tmp_path: Path
):
    start_worker_process()
    request = ProgressInAtomicJob(str(tmp_path)).run_in_worker()
    assert request is not None

    # The job is still inside its atomic() block, waiting for the release file.
    seen = wait_for(lambda: progress_of(request.uuid) == (0.5, "inside atomic"), what="progress")
    assert seen and not JobResult.objects.filter(job_request_uuid=request.uuid).exists()

    (tmp_path / "release").touch()
    result = request.wait(30)
    assert result.status == JobResult.Status.SUCCESSFUL, result.error
    assert result.return_value == "rolled back"  # the job's transaction was rolled back ...
    assert (result.progress, result.progress_message) == (0.5, "inside atomic")  # ... not this


def test_each_step_is_on_the_process_row_while_the_job_runs(start_worker_process, tmp_path):
    start_worker_process()
    request = ProgressStepsJob(str(tmp_path), steps=3).run_in_worker()
    assert request is not None
    wait_for(lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).exists())
    assert progress_of(request.uuid) == (None, "")
    for step in (1, 2):
        (tmp_path / str(step)).touch()
        expected = (step / 3, f"step {step} of 3")
        wait_for(lambda e=expected: progress_of(request.uuid) == e, what=f"step {step}")
    (tmp_path / "3").touch()
    result = request.wait(30)
    assert (result.progress, result.progress_message) == (1.0, "step 3 of 3")


@pytest.mark.parametrize("fail", [False, True])
def test_the_last_of_many_values_is_copied_to_the_result(start_worker_process, fail):
    start_worker_process()
    request = ProgressFloodJob(calls=20000, fail=fail).run_in_worker()
    assert request is not None
    result = request.wait(60)
    expected = JobResult.Status.ERRORED if fail else JobResult.Status.SUCCESSFUL
    assert result.status == expected, result.error
    assert (result.progress, result.progress_message) == (1.0, "20000/20000")


def test_one_writer_thread_per_worker_child_serves_every_job(start_worker_process):
    start_worker_process(concurrency=1)
    runs = [ProgressFloodJob(calls=50).run_in_worker().wait(30).return_value for _ in range(3)]
    pids = {pid for pid, _ in runs}
    writers = [tuple(threads) for _, threads in runs]
    assert len(pids) == 1, runs  # one child ran all three
    assert all(len(threads) == 1 for threads in writers), runs
    assert len(set(writers)) == 1, runs  # the same thread each time


def test_jobs_running_side_by_side_in_one_process_keep_their_own_progress(
    start_worker_process, tmp_path
):
    start_worker_process(concurrency=2, pool="threads")
    gates = [tmp_path / "a", tmp_path / "b"]
    for gate in gates:
        gate.mkdir()
    requests = [ProgressStepsJob(str(gate), steps=2).run_in_worker() for gate in gates]
    (gates[0] / "1").touch()
    wait_for(lambda: progress_of(requests[0].uuid) == (0.5, "step 1 of 2"), what="job a")
    assert progress_of(requests[1].uuid) == (None, "")  # b reported nothing yet
    for name in ("1", "2"):
        (gates[1] / name).touch()
    (gates[0] / "2").touch()
    results = [request.wait(30) for request in requests]
    assert [(r.progress, r.progress_message) for r in results] == [(1.0, "step 2 of 2")] * 2
