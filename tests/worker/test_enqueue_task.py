"""`django_jobkit.enqueue` run by a real worker, sent by hand and by a real beat from a
periodic task made as in beat's admin (no code: a task name and JSON keyword arguments)."""

from __future__ import annotations

import json

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from django_jobkit.models import JobRequest, JobResult
from django_jobkit.scheduling.enqueue_task import enqueue
from tests.conftest import wait_for
from tests.worker.test_beat_e2e import BeatProcess

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status


def report_results(region: str) -> list[JobResult]:
    return [
        r
        for r in JobResult.objects.filter(job_class="tests.jobs.ReportJob")
        if r.return_value == region
    ]


def test_a_worker_enqueues_the_named_job_and_refuses_bad_input_in_one_line(
    start_worker_process,
):
    worker = start_worker_process(pool="solo")
    # What beat's admin action "Run selected tasks" sends for such a periodic task.
    enqueue.apply_async(
        kwargs={"job": "tests.jobs.ReportJob", "kwargs": {"region": "us"}}, queue="default"
    )
    enqueue.apply_async(kwargs={"job": "tests.jobs.Gone", "kwargs": {}}, queue="default")
    enqueue.apply_async(
        kwargs={"job": "tests.jobs.ReportJob", "kwargs": {"zone": "us"}}, queue="default"
    )
    result = wait_for(lambda: report_results("us"), 30, "the enqueued job's result")[0]
    assert result.status == S.SUCCESSFUL

    def refusals() -> set[str]:
        return {
            line.rsplit("] ", 1)[-1]
            for line in worker.output().splitlines()
            if "nothing was enqueued" in line
        }

    lines = wait_for(lambda: len(refusals()) == 2 and refusals(), 30, "both refusals logged")
    assert any(
        line.startswith("django_jobkit.enqueue: unknown job 'tests.jobs.Gone'") for line in lines
    )
    assert any("tests.jobs.ReportJob refused its arguments" in line for line in lines)
    assert "Traceback" not in worker.output()
    assert JobResult.objects.count() == 1 and not JobRequest.objects.exists()


@pytest.mark.beat
def test_beat_enqueues_a_job_with_arguments_from_a_periodic_task(
    test_database_env, start_worker_process, tmp_path
):
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="eu report, made in the admin",
        task="django_jobkit.enqueue",
        interval=every_second,
        one_off=True,  # beat sends it once, then disables it
        kwargs=json.dumps(
            {
                "job": "tests.jobs.ReportJob",
                "kwargs": {"region": "eu"},
                "options": {"concurrency_key": "report-eu", "priority": 2},
            }
        ),
    )
    start_worker_process(pool="solo")
    beat = BeatProcess(test_database_env, tmp_path, "beat")
    try:
        beat.wait_ready()
        result = wait_for(lambda: report_results("eu"), 60, "the scheduled job's result")[0]
        wait_for(
            lambda: not PeriodicTask.objects.get(name__startswith="eu report").enabled,
            30,
            "beat to disable its one-off task",
        )
    finally:
        beat.stop()
    assert result.status == S.SUCCESSFUL
    assert (result.concurrency_key, result.priority) == ("report-eu", 2)
    assert "Sending due task eu report, made in the admin (django_jobkit.enqueue)" in beat.output()
    assert len(report_results("eu")) == 1
