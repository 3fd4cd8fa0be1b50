"""The conformance suite for Django's tasks framework, run against jobkit's own backend.

In-process here: tasks run through the worker's own claim, run and record steps
(`run_waiting_jobs`), highest priority first. On Celery's embedded worker in
tests/worker/test_tasks_conformance_jobkit.py.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from django_jobkit.testing import run_waiting_jobs
from django_jobkit.testing.tasks_conformance import TasksBackendConformance

JOBKIT_TASKS = {
    "default": {
        "BACKEND": "django_jobkit.tasks_backend.JobkitBackend",
        "QUEUES": ["default", "slow"],
    }
}


class TestJobkitBackend(TasksBackendConformance):
    pytestmark: ClassVar = pytest.mark.django_db(transaction=True)
    tasks_setting = JOBKIT_TASKS
    other_queue_name = "slow"
    enqueue_waits_for_commit = True
    ordered_priority = True

    def run_enqueued(self) -> None:
        run_waiting_jobs()
