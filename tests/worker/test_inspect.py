"""Celery's own tools see each job as a task named after its class."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from django_jobkit import registry
from tests.conftest import ROOT

pytestmark = pytest.mark.worker


def test_celery_inspect_registered_lists_every_job_by_its_class_path(
    celery_app, start_worker_process, fresh_queue, test_database_env
):
    worker = start_worker_process(queues=[fresh_queue()])
    node = worker.name.replace("%h", socket.gethostname())
    jobs = {registry.name_for(cls) for cls in registry.registered().values()}
    assert {"tests.jobs.NoopJob", "example_project.demo.jobs.SendWelcomeEmailJob"} <= jobs

    replies = celery_app.control.inspect(destination=[node], timeout=10).registered()
    assert replies is not None and list(replies) == [node]
    assert jobs <= set(replies[node])

    command = [sys.executable, "-m", "celery", "-A", "example_project", "inspect"]
    command += ["registered", "--destination", node, "--timeout", "10", "--json"]
    cli = subprocess.run(command, cwd=ROOT, env=test_database_env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert jobs <= set(json.loads(cli.stdout)[node])
