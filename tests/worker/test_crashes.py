"""Jobs that try to end their process: recorded as errors, and the pool child lives on."""

from __future__ import annotations

import os
import socket

import pytest

from django_jobkit.models import JobResult
from tests.jobs import KeyboardInterruptJob, RecordStartJob, SystemExitJob

pytestmark = pytest.mark.worker


def test_sys_exit_and_keyboard_interrupt_are_errors_and_the_worker_serves_the_next_job(
    start_worker_process, fresh_queue
):
    queue = fresh_queue()
    worker = start_worker_process(queues=[queue], concurrency=1)
    exiting = SystemExitJob().run_in_worker(queue=queue)
    interrupted = KeyboardInterruptJob().run_in_worker(queue=queue)
    next_job = RecordStartJob("next", queue=queue).run_in_worker()

    exited = exiting.wait(timeout=30)
    assert exited.status == JobResult.Status.ERRORED
    assert exited.error == "SystemExit: 3"
    assert "sys.exit(3)" in exited.traceback
    interrupt = interrupted.wait(timeout=30)
    assert interrupt.status == JobResult.Status.ERRORED
    assert interrupt.error.startswith("KeyboardInterrupt")
    assert "raise KeyboardInterrupt" in interrupt.traceback
    served = next_job.wait(timeout=30)
    assert served.status == JobResult.Status.SUCCESSFUL

    # One and the same pool child ran all three: neither exception ended it.
    assert exited.pid == interrupt.pid == served.pid == served.return_value["pid"]
    assert served.pid not in (os.getpid(), worker.proc.pid)
    assert served.host == socket.gethostname()
    assert served.worker_name == worker.name.replace("%h", socket.gethostname())
    assert served.celery_task_id == str(next_job.job_request_uuid)
    assert worker.proc.poll() is None
    assert "WorkerLostError" not in worker.output()
    assert "exited with" not in worker.output()
