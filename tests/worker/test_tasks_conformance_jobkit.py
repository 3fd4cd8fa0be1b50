"""The conformance suite for Django's tasks framework on jobkit's backend with a real worker
(Celery's embedded worker, `jobkit_worker`): tasks are sent on commit and run as they arrive.

Celery's consumer learns the tasks it can run when it starts: the suite's functions are made
tasks of jobkit's backend in tests/tasks.py, which every worker imports at start-up.
"""

from __future__ import annotations

import time
from typing import ClassVar

import pytest
from django.db.models import Q
from django.utils import timezone

from django_jobkit.models import JobProcess, JobRequest
from django_jobkit.testing.tasks_conformance import TasksBackendConformance

#: How long `run_enqueued` waits for the worker before it fails the test.
DEADLINE = 30.0


class TestJobkitBackendOnAWorker(TasksBackendConformance):
    pytestmark: ClassVar = [
        pytest.mark.worker,
        pytest.mark.django_db(transaction=True),
        pytest.mark.usefixtures("jobkit_worker"),
    ]
    enqueue_waits_for_commit = True

    def run_enqueued(self) -> None:
        """Return once no due request waits and no attempt runs."""
        deadline = time.monotonic() + DEADLINE
        while True:
            due = Q(start_at__isnull=True) | Q(start_at__lte=timezone.now())
            if not JobRequest.objects.filter(due).exists() and not JobProcess.objects.exists():
                return
            if time.monotonic() > deadline:
                pytest.fail(f"tasks still waiting or running after {DEADLINE:g} s")
            time.sleep(0.05)
