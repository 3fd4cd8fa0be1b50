"""`Job.resource` in real worker children: loaded once per child and reused by its later
jobs, loaded again by the child that replaces a recycled one (`--max-tasks-per-child`)."""

from __future__ import annotations

from collections import Counter

import pytest

from django_jobkit.models import JobWorker
from tests.conftest import wait_for
from tests.jobs import GPUWarmResourceJob, WarmResourceJob
from tests.worker.test_gpu_pinning import gpu_env, results_of

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
    pids = Counter(job["pid"] for job in ran)
    assert sorted(pids.values()) == [2, 2]  # two jobs per child (in whatever order they ran)
    assert sorted(log.read_text().splitlines()) == sorted(map(str, pids))  # once per child
    assert all(job["loaded_by"] == job["pid"] for job in ran)


def test_the_workers_row_lists_what_each_child_holds(start_worker_process, fresh_queue, tmp_path):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=2, env=gpu_env(queue, "0,1"))
    # Each job holds its device 0.6 s: longer than the test heartbeat interval (0.5 s), so
    # every reuse is written, and both children take work.
    ran = [
        r.return_value
        for r in results_of(
            [
                GPUWarmResourceJob(str(tmp_path / "loads.log"), 0.6).run_in_worker(queue=queue)
                for _ in range(6)
            ]
        )
    ]
    jobs_of_child = Counter(job["child"] for job in ran)
    assert set(jobs_of_child) == {0, 1}
    expected = {
        str(job["child"]): {"pid": job["pid"], "device": job["visible"], "key": "model"}
        for job in ran
    }

    def children() -> dict | None:
        rows = [w.children for w in JobWorker.objects.all() if w.children]
        if len(rows) != 1 or set(rows[0]) != set(expected):
            return None
        row = rows[0]
        for index, entry in row.items():
            held = entry["resources"]
            if len(held) != 1 or held[0]["hits"] != jobs_of_child[int(index)] - 1:
                return None
        return row

    row = wait_for(children, 20, "the children's entries on the worker's row")
    for index, entry in row.items():
        assert entry["pid"] == expected[index]["pid"]
        assert entry["device"] == expected[index]["device"]
        (held,) = entry["resources"]
        assert held["key"] == "model" and held["device"] == expected[index]["device"]
        assert held["loaded_at"] <= entry["reported_at"]
