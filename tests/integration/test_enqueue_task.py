"""`django_jobkit.enqueue`: a job and its arguments as JSON, through the ordinary enqueue path.

What a periodic task made in beat's admin sends. Bad input is refused with one log line
naming the problem, and nothing is written; a worker and a beat running it are in
tests/worker/test_enqueue_task.py.
"""

from __future__ import annotations

import logging

import pytest

from django_jobkit.exceptions import InvalidEnqueueArguments, JobkitError
from django_jobkit.models import JobRequest, JobResult
from django_jobkit.scheduling.enqueue_task import enqueue, enqueue_by_name

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_job_is_enqueued_with_its_arguments_and_options():
    request = enqueue_by_name(
        "tests.jobs.ReportJob",
        kwargs={"region": "us"},
        options={"queue": "slow", "priority": 3, "retries": 2, "timeout": 30, "delay": 120},
    )
    assert request is not None
    row = JobRequest.objects.get(job_request_uuid=request.job_request_uuid)
    assert row.job_class == "tests.jobs.ReportJob"
    assert row.load_job().region == "us"
    assert (row.queue, row.priority, row.retries, row.timeout) == ("slow", 3, 2, 30)
    assert row.start_at is not None


def test_positional_arguments_and_aliases_work_as_in_code():
    request = enqueue_by_name("tests.jobs.OldNameJob", args=[])
    assert request is not None and request.job_class == "tests.jobs.RenamedJob"
    assert enqueue_by_name("tests.jobs.NoopJob", args=["x"]).load_job().value == "x"


def test_a_concurrency_key_deduplicates_as_run_in_worker_does(caplog):
    given = {"job": "tests.jobs.NoopJob", "options": {"concurrency_key": "nightly"}}
    first = enqueue(**given)
    with caplog.at_level(logging.INFO, logger="django_jobkit.scheduling"):
        second = enqueue(**given)
    assert first.startswith("enqueued ")
    assert second == "not enqueued: should_enqueue said no"
    assert JobRequest.objects.count() == 1
    assert "tests.jobs.NoopJob not enqueued: its should_enqueue said no" in caplog.text


REFUSED = [
    ({"job": "tests.jobs.NoSuchJob"}, "unknown job 'tests.jobs.NoSuchJob'"),
    ({}, "job=None is not a job name"),
    ({"job": "tests.jobs.ReportJob", "kwargs": {"zone": "eu"}}, "ReportJob refused its arguments"),
    ({"job": "tests.jobs.ReportJob", "args": ["eu", "us"]}, "ReportJob refused its arguments"),
    ({"job": "tests.jobs.ReportJob", "args": "eu"}, "args of tests.jobs.ReportJob must be a JSON"),
    ({"job": "tests.jobs.ReportJob", "options": {"colour": "red"}}, "unknown option 'colour'"),
    ({"job": "tests.jobs.ReportJob", "options": {"retry_attempt": 3}}, "option 'retry_attempt'"),
    ({"job": "tests.jobs.ReportJob", "options": {"priority": "high"}}, "priority='high' has type"),
    ({"job": "tests.jobs.ReportJob", "options": {"retries": -1}}, "retries=-1 is below 0"),
    ({"job": "tests.jobs.ReportJob", "options": {"queue": ""}}, "queue='' is not a queue name"),
    ({"job": "tests.jobs.UsernameJob", "args": [{1, 2}]}, "cannot be stored as JSON"),
    ({"job": "tests.jobs.ReportJob", "jobs": 1}, "unknown keyword argument 'jobs'"),
]


@pytest.mark.parametrize(("given", "problem"), REFUSED)
def test_bad_input_is_one_log_line_naming_the_problem_and_writes_nothing(caplog, given, problem):
    with caplog.at_level(logging.INFO, logger="django_jobkit"):
        outcome = enqueue(**given)
    assert outcome.startswith("refused: ")
    assert problem in outcome
    lines = [r for r in caplog.records if r.name.startswith("django_jobkit")]
    assert len(lines) == 1, caplog.text
    assert lines[0].levelname == "ERROR"
    assert lines[0].getMessage().startswith("django_jobkit.enqueue: ")
    assert lines[0].getMessage().endswith("; nothing was enqueued")
    assert problem in lines[0].getMessage()
    assert lines[0].exc_info is None  # no traceback
    assert not JobRequest.objects.exists() and not JobResult.objects.exists()


def test_positional_task_arguments_are_refused():
    outcome = enqueue("tests.jobs.ReportJob")
    assert outcome.startswith("refused: positional arguments ['tests.jobs.ReportJob'] given")
    assert not JobRequest.objects.exists()
    assert issubclass(InvalidEnqueueArguments, JobkitError)
    assert issubclass(InvalidEnqueueArguments, ValueError)
