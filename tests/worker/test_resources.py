"""`Job.resource` in real worker children: loaded once per child and reused by its later
jobs, loaded again by the child that replaces a recycled one (`--max-tasks-per-child`)."""

from __future__ import annotations

import pytest

from tests.jobs import WarmResourceJob
from tests.worker.test_gpu_pinning import results_of

pytestmark = pytest.mark.worker


def test_a_resource_is_loaded_once_per_child_and_again_after_recycling(
    start_worker_process, fresh_queue, tmp_path
):
    log = tmp_path / "loads.log"
    queue = fresh_queue()
    start_worker_process([queue], concurrency=1)
    ran = [
        r.return_value
        for r in results_of(
            [WarmResourceJob(str(log)).run_in_worker(queue=queue) for _ in range(4)]
        )
    ]
    assert len({job["pid"] for job in ran}) == 1
    assert log.read_text().splitlines() == [str(ran[0]["pid"])]  # one load for four jobs

    recycled = fresh_queue()
    log.unlink()
    start_worker_process([recycled], concurrency=1, args=["--max-tasks-per-child", "2"])
    ran = [
        r.return_value
        for r in results_of(
            [WarmResourceJob(str(log)).run_in_worker(queue=recycled) for _ in range(4)]
        )
    ]
    pids = [job["pid"] for job in ran]
    assert len(set(pids)) == 2  # two jobs per child
    assert log.read_text().splitlines() == [str(pids[0]), str(pids[2])]  # once per child
    assert all(job["loaded_by"] == job["pid"] for job in ran)
