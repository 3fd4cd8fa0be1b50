"""A job's task called the plain-Celery way runs nothing and says, on one line, what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from django_jobkit.execution.tasks import task_for
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import ROOT, wait_for
from tests.jobs import NoopJob

pytestmark = pytest.mark.worker


def celery_call(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "celery", "-A", "example_project", "call", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()  # the task id


def test_plain_celery_calls_of_a_job_task_are_acked_with_one_line_and_run_nothing(
    start_worker_process, test_database_env
):
    worker = start_worker_process(concurrency=1)
    ids = [
        celery_call(test_database_env, "tests.jobs.NoopJob", "--args=[1, 2]"),
        celery_call(test_database_env, "tests.jobs.NoopJob", '--args=["not-a-uuid"]'),
        task_for("tests.jobs.NoopJob").delay(1, 2).id,
        task_for("tests.jobs.NoopJob").apply_async().id,  # what a hand-made PeriodicTask sends
    ]

    def warnings() -> list[str]:
        return [
            line for line in worker.output().splitlines() if "WARNING" in line and "NoopJob" in line
        ]

    wait_for(lambda: len(warnings()) >= 4, 30, "a warning for each call")
    # The next job runs as usual: nothing else was affected.
    assert NoopJob("next").run_in_worker().wait(30).return_value == "next"

    lines = warnings()
    assert len(lines) == 4, lines
    # One line per call, in whatever order the broker delivered them (the filesystem transport
    # orders two messages sent in the same millisecond by their random ids).
    kinds = [
        "args=[1, 2] kwargs={}; nothing was run",  # celery call --args=[1, 2]
        "was sent 'not-a-uuid', which is not a request uuid",  # celery call --args=["not-a-uuid"]
        "args=[1, 2] kwargs={}; nothing was run",  # .delay(1, 2)
        "args=[] kwargs={}; nothing was run",  # .apply_async(), as a hand-made PeriodicTask sends
    ]
    said = sorted(next((k for k in kinds if k in line), line) for line in lines)
    assert said == sorted(kinds), lines
    assert all("tests.jobs.NoopJob was " in line for line in lines)
    for line in lines:
        assert "NoopJob(...).run_in_worker()" in line
        assert "Schedule" in line and "JOBKIT_SCHEDULE" in line
    log = worker.output()
    for task_id in ids:
        assert f"Task tests.jobs.NoopJob[{task_id}] raised expected: NotAJobMessage(" in log
    assert "Traceback" not in log
    assert "DataError" not in log
    assert JobResult.objects.count() == 1  # the "next" job's only
    assert not JobRequest.objects.exists() and not JobProcess.objects.exists()
