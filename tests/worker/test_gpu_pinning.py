"""GPU workers without a GPU: real worker subprocesses given device lists by
`JOBKIT_GPU_DEVICES` pin each pool child to one device through CUDA_VISIBLE_DEVICES, keep it
across recycled children, refuse more children than slots, and fail GPU jobs closed where no
device is pinned. The jobs report what their child saw."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from django_jobkit.models import JobResult
from tests.jobs import CpuAllowedProbeJob, DeviceProbeJob

pytestmark = pytest.mark.worker

S = JobResult.Status


def gpu_env(queue: str, devices: str) -> dict[str, str]:
    return {"JOBKIT_TEST_GPU_QUEUE": queue, "JOBKIT_GPU_DEVICES": devices}


def results_of(requests: list[Any], timeout: float = 60) -> list[JobResult]:
    results = [request.wait(timeout) for request in requests]
    for result in results:
        assert result.status == S.SUCCESSFUL, result.error
    return results


def test_each_child_owns_one_device_and_no_two_jobs_share_one(start_worker_process, fresh_queue):
    queue = fresh_queue()
    start_worker_process([queue], concurrency=2, env=gpu_env(queue, "0,1"))
    requests = [DeviceProbeJob(0.5).run_in_worker(queue=queue) for _ in range(6)]
    results = results_of(requests)
    seen = [r.return_value for r in results]
    # The device is recorded on the result (copied from the process row at the end).
    assert [r.device for r in results] == [job["visible"] for job in seen]

    devices_of_pid: dict[int, set[str]] = defaultdict(set)
    for job in seen:
        devices_of_pid[job["pid"]].add(job["visible"])
        assert job["order"] == "PCI_BUS_ID"
        assert job["device"] == "cuda:0"
        assert job["gpu"] == int(job["visible"])
    assert all(len(devices) == 1 for devices in devices_of_pid.values()), devices_of_pid
    assert {job["visible"] for job in seen} == {"0", "1"}  # both devices used
    for device in ("0", "1"):
        spans = sorted((j["started"], j["ended"]) for j in seen if j["visible"] == device)
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end, f"two jobs overlapped on device {device}: {spans}"
    # Fair scheduling: the other device took work while one was busy.
    first_two = sorted(seen, key=lambda j: j["started"])[:2]
    assert {j["visible"] for j in first_two} == {"0", "1"}


def test_a_recycled_child_gets_its_device_back(start_worker_process, fresh_queue):
    queue = fresh_queue()
    start_worker_process(
        [queue], concurrency=2, env=gpu_env(queue, "0,1"), args=["--max-tasks-per-child", "1"]
    )
    requests = [DeviceProbeJob(0.2).run_in_worker(queue=queue) for _ in range(6)]
    seen = [r.return_value for r in results_of(requests)]
    assert len({job["pid"] for job in seen}) == 6  # each job in a fresh child
    device_of_child: dict[int, set[str]] = defaultdict(set)
    for job in seen:
        device_of_child[job["child"]].add(job["visible"])
    assert device_of_child == {0: {"0"}, 1: {"1"}}


def test_more_children_than_device_slots_is_refused_at_start(start_worker_process, fresh_queue):
    queue = fresh_queue()
    worker = start_worker_process([queue], concurrency=3, env=gpu_env(queue, "0,1"), ready=False)
    assert worker.proc.wait(60) != 0
    output = worker.output()
    assert "GPU worker not started" in output
    assert "3 children for 2 device slots" in output and "-c 2" in output
    assert " ready." not in output


def test_a_gpu_job_on_a_worker_without_a_gpu_fails_at_once_and_is_not_retried(
    start_worker_process, fresh_queue
):
    queue = fresh_queue()
    worker = start_worker_process([queue], concurrency=1, env=gpu_env(queue, ""))
    request = DeviceProbeJob().run_in_worker(queue=queue, retries=3)
    result = request.wait(30)
    assert result.status == S.ERRORED
    assert result.error.startswith("NoGPUAssigned: no GPU assigned to this worker")
    assert "allow_cpu = True" in result.error
    assert JobResult.objects.filter(root_uuid=request.uuid).count() == 1  # never retried

    assert result.device == ""
    allowed = CpuAllowedProbeJob().run_in_worker(queue=queue)
    ran = results_of([allowed])[0].return_value
    assert ran["gpu"] is None and ran["device"] == "cpu"
    assert ran["visible"] == ""  # the worker hides every device rather than none
    assert "has no GPU" in worker.output()  # and said so when it started


def test_the_solo_pool_pins_its_own_process(start_worker_process, fresh_queue):
    queue = fresh_queue()
    start_worker_process([queue], pool="solo", env=gpu_env(queue, "1"))
    ran = results_of([DeviceProbeJob().run_in_worker(queue=queue)])[0].return_value
    assert (ran["visible"], ran["gpu"], ran["device"]) == ("1", 1, "cuda:0")


def test_the_threads_pool_is_refused_past_one_thread(start_worker_process, fresh_queue):
    queue = fresh_queue()
    worker = start_worker_process(
        [queue], concurrency=2, pool="threads", env=gpu_env(queue, "0,1"), ready=False
    )
    assert worker.proc.wait(60) != 0
    assert "threads pool runs 2 jobs in one process" in worker.output()


def test_a_child_grown_past_the_slots_by_autoscale_fails_closed(start_worker_process, fresh_queue):
    queue = fresh_queue()
    worker = start_worker_process(
        [queue], env=gpu_env(queue, "0"), args=["--autoscale", "2,1"], concurrency=1
    )
    assert "children past them get no device" in worker.output()
    # Two long jobs at once: the autoscaler grows a second child, which has no device.
    requests = [DeviceProbeJob(3).run_in_worker(queue=queue) for _ in range(2)]
    results = [request.wait(60) for request in requests]
    by_status = {r.status: r for r in results}
    assert S.SUCCESSFUL in by_status, [r.error for r in results]
    assert by_status[S.SUCCESSFUL].return_value["visible"] == "0"
    # The autoscaler grew a second child for the second job: it had no device and failed
    # closed, at once, rather than run on the device the first child owns.
    assert S.ERRORED in by_status, [r.return_value for r in results]
    assert "worker child 1 is past the 1 device slots" in by_status[S.ERRORED].error
