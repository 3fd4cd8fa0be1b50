"""The GPU worker's pure pieces: reading device lists, which child owns which device, and
which workers are refused before they start."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from django.test import override_settings

from django_jobkit.exceptions import InvalidGPUDevices, JobkitError, NoGPUAssigned
from django_jobkit.execution import gpu
from django_jobkit.execution.gpu import Pin, Plan, check_children, parse_devices


def test_device_lists_take_indices_and_uuids_with_spaces_and_empty_items():
    assert parse_devices(" 0, 1,,", "test") == ("0", "1")
    uuid = "GPU-8f6e2b0c-0d1a-4c51-9f5b-2d9d1b2e7a10"
    assert parse_devices([uuid, "MIG-1a2b"], "test") == (uuid, "MIG-1a2b")
    assert parse_devices("", "test") == ()


@pytest.mark.parametrize("value", ["cuda:0", "0,zero", "-1", "0,0"])
def test_a_device_list_it_cannot_read_names_the_problem(value):
    with pytest.raises(InvalidGPUDevices) as caught:
        parse_devices(value, "the JOBKIT_GPU_DEVICES setting")
    assert "JOBKIT_GPU_DEVICES setting" in str(caught.value)
    assert isinstance(caught.value, JobkitError) and isinstance(caught.value, ValueError)


def test_child_i_owns_device_i_and_shares_it_only_within_the_slots():
    one_each = Plan(("0", "1"), per_device=1, source="test")
    assert [one_each.pin(i).entry for i in range(2)] == ["0", "1"]
    two_each = Plan(("0", "1"), per_device=2, source="test")
    assert [two_each.pin(i).entry for i in range(4)] == ["0", "0", "1", "1"]
    past = one_each.pin(2)  # e.g. grown by --autoscale: fails closed
    assert past.entry is None and past.gpu is None and past.device is None
    assert "child 2 is past the 2 device slots" in past.reason


def test_the_index_a_job_sees_is_the_configured_one_or_the_uuids_place():
    assert Pin(0, "3", 0).gpu == 3
    assert Pin(1, "GPU-abc", 1).gpu == 1
    assert Pin(0, "3", 0).device == "cuda:0"  # the child sees its one device as the first


def test_more_children_than_slots_is_refused_with_the_fix():
    plan = Plan(("0", "1"), per_device=1, source="the JOBKIT_GPU_DEVICES setting")
    check_children(plan, "prefork", 2)
    with pytest.raises(InvalidGPUDevices) as caught:
        check_children(plan, "prefork", 3)
    assert "3 children for 2 device slots" in str(caught.value)
    assert "-c 2" in str(caught.value)


def test_pools_that_share_one_process_are_refused_past_one_job():
    plan = Plan(("0",), per_device=2, source="test")
    check_children(plan, "threads", 1)
    check_children(plan, "solo", 1)
    with pytest.raises(InvalidGPUDevices, match="threads pool runs 2 jobs in one process"):
        check_children(plan, "threads", 2)


def test_a_machine_without_devices_is_not_refused():
    check_children(Plan((), per_device=1, source="no nvidia-smi"), "prefork", 4)


def test_the_setting_comes_first_then_the_variable_then_cuda_visible_devices():
    environ = {"JOBKIT_GPU_DEVICES": "2,3", "CUDA_VISIBLE_DEVICES": "5"}
    with override_settings(JOBKIT_GPU_DEVICES="0"):
        assert gpu.plan(environ).devices == ("0",)
    assert gpu.plan(environ).devices == ("2", "3")
    assert gpu.plan({"CUDA_VISIBLE_DEVICES": "5"}).devices == ("5",)
    with (
        override_settings(JOBKIT_GPU_JOBS_PER_DEVICE=0),
        pytest.raises(InvalidGPUDevices, match="JOBKIT_GPU_JOBS_PER_DEVICE=0"),
    ):
        gpu.plan(environ)


def test_detection_reads_nvidia_smi_in_a_subprocess(tmp_path: Path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert gpu.detect_devices({}) == (("0", "1"), "nvidia-smi")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    devices, source = gpu.detect_devices({})
    assert devices == () and "no nvidia-smi" in source


def test_a_pin_sets_the_childs_visible_devices_and_their_order(monkeypatch):
    monkeypatch.setattr(gpu, "_pin", None)
    environ: dict[str, str] = {}
    gpu.apply_pin(Pin(1, "1", 1), environ)
    assert environ == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}
    gpu.apply_pin(Pin(2, None, reason="past the slots"), environ)
    assert environ["CUDA_VISIBLE_DEVICES"] == ""  # no device at all, not every device


def test_a_gpu_job_without_a_device_is_refused_unless_it_allows_the_cpu(monkeypatch):
    monkeypatch.setattr(gpu, "_pin", Pin(2, None, reason="worker child 2 is past the slots"))
    with pytest.raises(NoGPUAssigned) as caught:
        gpu.require(False, "app.jobs.TranscribeJob")
    message = str(caught.value)
    assert "no GPU assigned to this worker (worker child 2 is past the slots)" in message
    assert "allow_cpu = True" in message and "JOBKIT_GPU_DEVICES" in message
    gpu.require(True, "app.jobs.TranscribeJob")
    monkeypatch.setattr(gpu, "_pin", Pin(0, "0", 0))
    gpu.require(False, "app.jobs.TranscribeJob")


def test_autoscale_is_read_as_celery_reads_it():
    class Worker:
        concurrency = 4
        options: dict[str, object] = {}

    worker = Worker()
    assert gpu.children_at_start(worker) == (4, None)
    worker.options = {"autoscale": "3,2"}
    assert gpu.children_at_start(worker) == (2, 3)
    worker.options = {"autoscale": [3, 0]}
    assert gpu.children_at_start(worker) == (1, 3)
