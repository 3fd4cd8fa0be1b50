"""`manage.py jobkit status|list|show|workers|cancel`: the console's figures agree with the
rows, plain columns when not a terminal, JSON for scripts, clear errors for bad input."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from django_jobkit.enqueue import pauses
from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from tests.integration.test_renderings import CLAIMED_BY
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db

S = JobResult.Status


def jobkit(*args: str) -> str:
    out = io.StringIO()
    call_command("jobkit", *args, stdout=out)
    return out.getvalue()


def claimed(request: Any) -> JobProcess:
    process, _ = JobRequest.objects.claim(request.job_request_uuid, CLAIMED_BY)
    assert process is not None
    return process


@pytest.fixture
def jobs(fresh_queue: Any) -> dict[str, Any]:
    queue = fresh_queue()
    waiting = [NoopJob(i, queue=queue).run_in_worker(queue=queue) for i in range(3)]
    delayed = NoopJob("later", queue=queue).run_in_worker(queue=queue, delay=3600)
    running = claimed(waiting.pop())
    JobProcess.objects.filter(pk=running.pk).update(progress=0.5, progress_message="half way")
    failed = record(claimed(waiting.pop()), Outcome(S.ERRORED, error="ValueError: bad input"))
    JobWorker.objects.create(name="w1@host", host="host", pid=4242, queues=[queue, "slow"])
    return {
        "queue": queue,
        "waiting": waiting,
        "delayed": delayed,
        "running": running,
        "failed": failed,
    }


def test_status_counts_each_queue_and_lists_live_workers(jobs):
    queue = jobs["queue"]
    data = json.loads(jobkit("status", "--json"))
    (row,) = [q for q in data["queues"] if q["queue"] == queue]
    assert (row["waiting"], row["delayed"], row["running"], row["failed_last_hour"]) == (1, 1, 1, 1)
    assert row["paused"] is False
    (worker,) = [w for w in data["workers"] if w["name"] == "w1@host"]
    assert worker["queues"] == [queue, "slow"]

    pauses.pause(queue)
    text = jobkit("status")
    line = next(line for line in text.splitlines() if line.startswith(queue))
    assert line.split()[1:6] == ["1", "1", "1", "1", "yes"]
    assert "Live workers: 1" in text and "host:4242" in text


def test_list_shows_each_state_with_progress_and_errors(jobs):
    queue = jobs["queue"]
    running = jobkit("list", "running", "--queue", queue)
    assert "[#####-----]  50% half way" in running
    assert str(jobs["running"].job_request_uuid) in running
    failed = json.loads(jobkit("list", "failed", "--queue", queue, "--json"))
    assert [(f["state"], f["error"]) for f in failed] == [(S.ERRORED, "ValueError: bad input")]
    waiting = json.loads(jobkit("list", "--queue", queue, "--json"))
    assert {w["uuid"] for w in waiting} == {
        str(jobs["waiting"][0].job_request_uuid),
        str(jobs["delayed"].job_request_uuid),
    }
    with pytest.raises(CommandError, match="--limit 0: give a positive number"):
        jobkit("list", "--limit", "0")


def test_show_tells_where_a_job_stands(jobs):
    delayed = jobs["delayed"]
    shown = json.loads(jobkit("show", str(delayed.job_request_uuid), "--json"))
    assert shown["state"] == "waiting" and shown["why_waiting"].startswith("not before ")
    assert shown["start_at"] > (timezone.now() + timedelta(minutes=59)).isoformat()[:16]
    text = jobkit("show", str(jobs["failed"].job_request_uuid))
    assert "state: ERRORED" in text and "error: ValueError: bad input" in text
    with pytest.raises(CommandError, match="'nope' is not a uuid"):
        jobkit("show", "nope")
    with pytest.raises(CommandError, match="no job with request uuid"):
        jobkit("show", "00000000-0000-0000-0000-000000000000")


def test_cancel_cancels_a_waiting_job_and_says_what_it_could_not(jobs):
    waiting = jobs["waiting"][0]
    text = jobkit("cancel", str(waiting.job_request_uuid), str(jobs["failed"].job_request_uuid))
    assert f"{waiting.job_request_uuid}: cancelled before it started" in text
    assert f"{jobs['failed'].job_request_uuid}: not waiting or running" in text
    assert JobResult.objects.get(job_request_uuid=waiting.job_request_uuid).status == S.CANCELLED


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_rich_tables():
    from django_jobkit.management import console

    out = Terminal()
    console.print_tables(out, [console.Table("Queues", ("QUEUE", "WAITING"), [["default", "3"]])])
    text = out.getvalue()
    assert "Queues" in text and "default" in text and "┃" in text  # rich's box drawing


def test_retry_enqueues_the_chains_next_attempt_once(jobs):
    failed = jobs["failed"]
    text = jobkit("retry", str(failed.job_request_uuid))
    assert f"{failed.job_request_uuid}: retried as " in text and "(attempt 2)" in text
    again = jobkit("retry", str(failed.job_request_uuid))
    assert "not retried, already retried" in again or "a later attempt waits" in again
    assert JobRequest.objects.filter(root_uuid=failed.root_uuid).count() == 1
    assert "no result" in jobkit("retry", str(jobs["delayed"].job_request_uuid))


def test_enqueue_builds_the_job_from_its_arguments_and_refuses_bad_ones(fresh_queue):
    queue = fresh_queue()
    text = jobkit(
        "enqueue",
        "tests.jobs.NoopJob",
        "--arg",
        '{"n": 1}',
        "--kwarg",
        f"queue={queue}",
        "--queue",
        queue,
        "--delay",
        "600",
    )
    assert text.startswith("enqueued ") and text.strip().endswith(f"on {queue}")
    (request,) = JobRequest.objects.filter(queue=queue)
    assert request.load_job().value == {"n": 1} and request.start_at is not None
    with pytest.raises(CommandError, match=r"no job class is registered as 'tests\.jobs\.Nope'"):
        jobkit("enqueue", "tests.jobs.Nope")
    with pytest.raises(CommandError, match="--kwarg 'novalue': give NAME=VALUE"):
        jobkit("enqueue", "tests.jobs.NoopJob", "--kwarg", "novalue")
    with pytest.raises(CommandError, match=r"tests\.jobs\.NoopJob: .*unexpected keyword"):
        jobkit("enqueue", "tests.jobs.NoopJob", "--kwarg", "colour=1")
    assert JobRequest.objects.filter(queue=queue).count() == 1  # nothing half-written


def test_tail_prints_results_as_they_are_recorded(jobs, fresh_queue):
    queue = fresh_queue()
    request = NoopJob("tailed", queue=queue).run_in_worker(queue=queue)
    record(claimed(request), Outcome(S.SUCCESSFUL))
    text = jobkit("tail", "--queue", queue, "--count", "1", "--timeout", "10")
    (line,) = text.splitlines()
    assert "SUCCESSFUL" in line and str(request.job_request_uuid) in line
    assert jobkit("tail", "--queue", "nothing-here", "--timeout", "0.2") == ""


def test_watch_redraws_until_its_time_is_up(jobs):
    text = jobkit("list", "running", "--queue", jobs["queue"], "--watch", "0.05", "--for", "0.3")
    assert text.count("Running: newest 1") >= 2  # redrawn, each under its time
    assert text.count("--- ") == text.count("Running: newest 1")
    with pytest.raises(CommandError, match="--watch 0: give a positive number of seconds"):
        jobkit("status", "--watch", "0")


def test_watch_on_a_terminal_redraws_in_place(jobs):
    from django_jobkit.management import console

    out = Terminal()
    console.watch(out, console.status_tables, 0.05, 0.2)
    text = out.getvalue()
    assert "Queues" in text and jobs["queue"] in text and "--- " not in text
    assert "\x1b[" in text  # rich's cursor movements: the table is redrawn where it was
