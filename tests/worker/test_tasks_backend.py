"""Django's tasks framework on a real `celery worker` (prefork, as users run it): tasks run,
retry, report RUNNING from inside and send the framework's signals in the worker (in the
admin: tests/browser/test_tasks_admin.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from django_jobkit._compat.tasks import require
from tests import tasks
from tests.conftest import wait_for

pytestmark = pytest.mark.worker

Status = require().TaskResultStatus


def finished(task: Any, result_id: str) -> Any:
    def done() -> Any:
        result = task.get_result(result_id)
        return result if result.is_finished else None

    return wait_for(done, timeout=60, what=f"task {result_id} to finish")


def test_tasks_run_retry_and_report_on_a_real_worker(
    start_worker_process, fresh_queue, tmp_path: Path
):
    queue = fresh_queue()
    notes = tmp_path / "signals"
    notes.mkdir()
    worker = start_worker_process(
        [queue], concurrency=2, env={"JOBKIT_TEST_SIGNAL_DIR": str(notes)}
    )
    marker = uuid.uuid4().hex
    added = tasks.add.using(queue_name=queue).enqueue(2, 40)
    retried = tasks.fail_twice_then.using(queue_name=queue).enqueue(marker)
    awaited = tasks.async_add.using(queue_name=queue).enqueue(1, 1)
    itself = tasks.own_result.using(queue_name=queue).enqueue()
    failed = tasks.fail.using(queue_name=queue).enqueue("bad input")

    assert finished(tasks.add, added.id).return_value == 42
    assert finished(tasks.async_add, awaited.id).return_value == 2

    done = finished(tasks.fail_twice_then, retried.id)
    assert done.status == Status.SUCCESSFUL, [e.traceback for e in done.errors]
    assert done.return_value == marker
    assert done.attempts == 3 and len(done.errors) == 2
    # Each attempt names the worker that ran it: its node name and the child's pid.
    node = worker.name.split("@")[0]
    assert all(w.startswith(node + "@") and w.rsplit(":", 1)[1].isdigit() for w in done.worker_ids)

    seen = finished(tasks.own_result, itself.id).return_value
    assert seen["status"] == str(Status.RUNNING) and seen["attempt"] == 1

    bad = finished(tasks.fail, failed.id)
    assert bad.status == Status.FAILED
    assert bad.errors[0].exception_class_path == "builtins.ValueError"
    assert "ValueError: bad input" in bad.errors[0].traceback

    # The framework's signals were sent in the worker, with the backend as sender.
    # (task_finished follows the result's commit: each note may land just after get_result saw it.)
    def note(name: str) -> str:
        path = notes / name
        wait_for(path.exists, timeout=10, what=f"the worker's note {name}")
        return path.read_text()

    assert note(f"started-{added.id}") == "JobkitBackend RUNNING"
    assert note(f"finished-{added.id}") == "JobkitBackend SUCCESSFUL"
    assert note(f"finished-{failed.id}") == "JobkitBackend FAILED"
