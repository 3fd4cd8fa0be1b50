"""A job's process is known by pid and start time: a reused pid does not pass for it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from django_jobkit.execution import identity
from django_jobkit.execution.heartbeat import WorkerIdentity, check_children
from django_jobkit.execution.runner import claim
from django_jobkit.models import JobProcess, JobResult
from tests.jobs import NoopJob

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="start times come from /proc")


@pytest.fixture
def unrelated_process() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with any job."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_live_process_with_another_start_time_is_not_the_recorded_one(unrelated_process):
    pid = unrelated_process.pid
    started = identity.start_time(pid)
    assert started is not None
    assert identity.is_running(pid, started)
    assert not identity.is_running(pid, started + 1)  # the pid was given to another process
    assert identity.pid_alive(pid)  # which a signal 0 alone would take for the job's


def test_a_dead_or_zombie_process_is_not_running():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = identity.start_time(proc.pid)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert identity.start_time(proc.pid) is None
    assert not identity.is_running(proc.pid, started)
    proc.wait()
    assert not identity.is_running(proc.pid, started)


def test_own_start_time_is_this_process_s():
    assert identity.own_start_time() == identity.start_time(os.getpid())


class FakeTaskRequest:
    hostname = "w1@test"
    id = "task-1"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_ends_a_job_whose_pid_now_belongs_to_another_process(unrelated_process):
    request = NoopJob().run_in_worker()
    process = claim(str(request.job_request_uuid), FakeTaskRequest())
    assert process is not None and process.pid_start_time == identity.own_start_time()
    # The job's child died and the kernel gave its pid to an unrelated, live process.
    pid = unrelated_process.pid
    JobProcess.objects.filter(pk=process.pk).update(
        pid=pid, pid_start_time=identity.start_time(pid) + 1, worker_pid=os.getpid()
    )
    me = WorkerIdentity(name="w1@test", queues=["default"], pid=os.getpid())
    assert check_children(me) == 1
    result = JobResult.objects.get(job_request_uuid=request.uuid)
    assert result.status == JobResult.Status.LOST
    assert f"its worker child (pid {pid}) died" in result.error
    assert unrelated_process.poll() is None  # nothing was done to the other process


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_vouches_for_a_live_child(unrelated_process):
    request = NoopJob().run_in_worker()
    process = claim(str(request.job_request_uuid), FakeTaskRequest())
    pid = unrelated_process.pid  # stands in for a live pool child
    JobProcess.objects.filter(pk=process.pk).update(
        pid=pid, pid_start_time=identity.start_time(pid), worker_pid=os.getpid()
    )
    me = WorkerIdentity(name="w1@test", queues=["default"], pid=os.getpid())
    assert check_children(me) == 0
    assert JobProcess.objects.get(pk=process.pk).heartbeat_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_former_worker_s_jobs_on_the_same_host_and_pid_are_ended():
    # A worker restarted in its container gets the same host name and pid as the one that
    # died; the jobs that one ran in its main process (solo pool) are not this one's.
    request = NoopJob().run_in_worker()
    process = claim(str(request.job_request_uuid), FakeTaskRequest())
    JobProcess.objects.filter(pk=process.pk).update(
        worker_pid=os.getpid(), pid_start_time=identity.own_start_time() - 1
    )
    me = WorkerIdentity(name="w1@test", queues=["default"], pid=os.getpid())
    assert check_children(me) == 1
    assert JobResult.objects.get(job_request_uuid=request.uuid).status == JobResult.Status.LOST
