"""A paused queue with a real worker: a message already in flight is put back to wait, not
run; nothing is sent while paused; `manage.py jobkit resume` sends what waits and it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.conftest import ROOT, wait_for
from tests.jobs import NoopJob

pytestmark = pytest.mark.worker


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "jobkit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_paused_queues_message_waits_and_runs_once_resumed(
    start_worker_process, fresh_queue, test_database_env
):
    queue = fresh_queue()
    in_flight = NoopJob("in flight").run_in_worker(queue=queue)
    assert JobRequest.objects.get(pk=in_flight.pk).sent_at is not None  # its message left
    assert f"{queue}: paused" in manage(test_database_env, "pause", queue)

    # The worker takes its turns at the sweep (every second here): a sweep while `resume`
    # runs must not send what waits before `resume` has counted it.
    worker = start_worker_process(queues=[queue])
    # The worker takes the message, finds the queue paused, and puts the request back.
    wait_for(
        lambda: JobRequest.objects.filter(pk=in_flight.pk, sent_at__isnull=True).exists(),
        20,
        "the in-flight request to be put back to wait",
    )
    later = NoopJob("enqueued while paused").run_in_worker(queue=queue)
    assert JobRequest.objects.get(pk=later.pk).sent_at is None  # nothing sent while paused
    assert "sent 0," in manage(test_database_env, "sweep")  # nor by the sweeper
    assert not JobProcess.objects.exists() and not JobResult.objects.exists()

    assert f"{queue}: resumed; 2 waiting job(s) sent" in manage(test_database_env, "resume", queue)
    assert in_flight.wait(30).return_value == "in flight"
    assert later.wait(30).return_value == "enqueued while paused"
    assert JobResult.objects.filter(status=JobResult.Status.SUCCESSFUL).count() == 2
    assert worker.proc.poll() is None
