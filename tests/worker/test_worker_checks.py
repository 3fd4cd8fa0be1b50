"""A worker whose project fails the system checks refuses to start."""

from __future__ import annotations

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.worker


def test_worker_with_check_errors_exits_naming_them(start_worker_process):
    worker = start_worker_process(env={"JOBKIT_TEST_NAIVE_TIMES": "1"}, ready=False)
    code = wait_for(lambda: worker.proc.poll() is not None, 60, "the worker to exit")
    assert code and worker.proc.returncode != 0
    output = worker.output()
    assert "Refusing to start the worker" in output
    assert "django_jobkit.E005" in output
    assert " ready." not in output
