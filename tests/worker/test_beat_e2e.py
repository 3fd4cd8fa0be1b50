"""End to end: `manage.py jobkit sync_schedules`, two real `celery beat -S django` processes
(one too many, by mistake) and a real worker; an every-minute job runs once per minute.

Up to ~70 s: it waits for the first minute boundary after both beats are up. Select it with
`-m beat`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from django_jobkit.models import JobRequest, JobResult
from tests.conftest import ROOT, CeleryProcess, reported_on_failure, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.beat, pytest.mark.worker]

JOB = "tests.jobs.EveryMinuteJob"


class BeatProcess(CeleryProcess):
    """A real `celery -A example_project beat -S django` on the test database."""

    ready_marker = "beat: Starting..."

    def __init__(self, env: dict[str, str], folder: Path, name: str) -> None:
        args = ["beat", "-S", "django", "-s", str(folder / f"{name}-schedule.db")]
        args += ["--pidfile", str(folder / f"{name}.pid"), "--max-interval", "1", "-l", "info"]
        super().__init__(args, folder / f"{name}.log", env)


@pytest.fixture
def beat_env(test_database_env, monkeypatch) -> dict[str, str]:
    """The test database, and the every-minute schedule of `tests.jobs.EveryMinuteJob`."""
    monkeypatch.setenv("JOBKIT_TEST_SCHEDULES", "1")  # for the worker subprocess as well
    return {**test_database_env, "JOBKIT_TEST_SCHEDULES": "1"}


@pytest.fixture
def start_beat_process(beat_env, tmp_path, request):
    started: list[BeatProcess] = reported_on_failure(request, [])

    def start() -> BeatProcess:
        process = BeatProcess(beat_env, tmp_path, f"beat-{len(started)}")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def results_by_key() -> Counter[str]:
    return Counter(
        JobResult.objects.filter(job_class=JOB).values_list("concurrency_key", flat=True)
    )


def test_beat_enqueues_an_every_minute_job_once_per_minute(
    beat_env, start_worker_process, start_beat_process
):
    began = time.monotonic()
    sync = subprocess.run(
        [sys.executable, "manage.py", "jobkit", "sync_schedules"],
        cwd=ROOT,
        env=beat_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sync.returncode == 0, sync.stderr
    assert f"created: 'django-jobkit: {JOB}'" in sync.stdout
    worker = start_worker_process(queues=["default"], concurrency=2)
    beats = [start_beat_process(), start_beat_process()]
    for process in beats:
        process.wait_ready()
    # The first occurrence both beats are up for.
    target = (int(time.time()) // 60 + 1) * 60
    key = f"scheduled:{target}"
    result = wait_for(
        lambda: JobResult.objects.filter(job_class=JOB, concurrency_key=key).first(),
        100,
        f"the run of the {time.strftime('%H:%M', time.gmtime(target))} occurrence",
    )
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "tick"
    # Both beats fired it; the second firing found it enqueued already.
    wait_for(
        lambda: worker.output().count(f"occurrence {key} was already enqueued") >= 1,
        30,
        "the second beat's firing of the same occurrence",
    )
    for process in beats:
        assert "Sending due task django-jobkit: tests.jobs.EveryMinuteJob" in process.output()
    runs = results_by_key()
    assert runs[key] == 1
    assert all(count == 1 for count in runs.values()), runs
    assert not JobRequest.objects.filter(job_class=JOB, concurrency_key=key).exists()
    print(f"beat end-to-end: {time.monotonic() - began:.1f} s, occurrences run: {dict(runs)}")
