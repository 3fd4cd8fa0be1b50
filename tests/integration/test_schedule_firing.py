"""Firing occurrences: each one enqueued once, under its key's lock, should_enqueue still asked."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django_celery_beat.models import PeriodicTask

from django_jobkit import Schedule
from django_jobkit.models import JobRequest, JobResult
from django_jobkit.scheduling.beat import catch_up, fire, managed_rows, on_firing, sync_schedules
from django_jobkit.scheduling.entries import ScheduledJob
from tests.conftest import race
from tests.jobs import ReportJob

pytestmark = pytest.mark.django_db(transaction=True)

PARIS = ZoneInfo("Europe/Paris")
NINE = datetime(2025, 6, 2, 9, tzinfo=PARIS)


def report_entry(queue: str, expression: str = "0 9 * * *", **options) -> ScheduledJob:
    return ScheduledJob(
        name="tests.jobs.ReportJob[eu]",
        job_name="tests.jobs.ReportJob",
        schedule=Schedule.from_cron(expression, "Europe/Paris", **options),
        kwargs={"region": "eu"},
        key="eu",
        queue=queue,
        priority=3,
    )


def settings_schedule(queue: str, expression: str = "0 9 * * *", **options) -> list:
    return [
        (
            "tests.jobs.ReportJob",
            expression,
            {"kwargs": {"region": "eu"}, "key": "eu", "queue": queue, "tz": "Europe/Paris"}
            | options,
        )
    ]


def requests_of(queue: str) -> list[JobRequest]:
    return list(JobRequest.objects.filter(queue=queue).order_by("concurrency_key"))


def test_an_occurrence_is_enqueued_with_its_key_and_options(unique_queue):
    request = fire(report_entry(unique_queue), NINE)
    assert request is not None
    assert request.concurrency_key == f"eu:scheduled:{int(NINE.timestamp())}"
    assert (request.queue, request.priority) == (unique_queue, 3)
    assert request.load_job().region == "eu"


def test_firing_the_same_occurrence_again_enqueues_nothing(unique_queue):
    entry = report_entry(unique_queue)
    assert fire(entry, NINE) is not None
    assert fire(entry, NINE) is None
    assert fire(entry, NINE + timedelta(days=1)) is not None
    assert len(requests_of(unique_queue)) == 2


def test_an_occurrence_that_already_ran_is_not_enqueued_again(inprocess_worker):
    entry = report_entry("default")
    request = fire(entry, NINE)
    assert request.wait(timeout=30).status == JobResult.Status.SUCCESSFUL
    assert not JobRequest.objects.filter(concurrency_key=request.concurrency_key).exists()
    # The default dedup rule only looks at pending or running jobs: on its own it would
    # enqueue the finished occurrence a second time. Firing looks at results too.
    assert fire(entry, NINE) is None
    assert not JobRequest.objects.filter(concurrency_key=request.concurrency_key).exists()
    again = ReportJob("eu").run_in_worker(concurrency_key=request.concurrency_key)
    assert again is not None
    again.wait(timeout=30)


def test_should_enqueue_still_decides(unique_queue, caplog):
    entry = ScheduledJob(
        name="tests.jobs.OneAtATimeJob",
        job_name="tests.jobs.OneAtATimeJob",
        schedule=Schedule.from_cron("* * * * *", "UTC"),
        queue=unique_queue,
    )
    minute = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    first = fire(entry, minute)
    assert first is not None
    with caplog.at_level(logging.INFO, logger="django_jobkit.scheduling"):
        assert fire(entry, minute + timedelta(minutes=1)) is None  # the 09:00 run still waits
    assert "should_enqueue refused" in caplog.text
    first.delete()
    assert fire(entry, minute + timedelta(minutes=2)) is not None


def test_on_firing_enqueues_the_occurrence_beat_fired(unique_queue):
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue)):
        request = on_firing(
            "tests.jobs.ReportJob[eu]", "0 9 * * *", "Europe/Paris", NINE + timedelta(seconds=2)
        )
        assert request.concurrency_key == f"eu:scheduled:{int(NINE.timestamp())}"
        # A second beat, or a restarted one, fires the same occurrence later in the minute.
        assert (
            on_firing(
                "tests.jobs.ReportJob[eu]",
                "0 9 * * *",
                "Europe/Paris",
                NINE + timedelta(seconds=40),
            )
            is None
        )
    assert len(requests_of(unique_queue)) == 1


def test_a_firing_of_a_row_not_yet_synced_is_read_with_the_expression_beat_used(unique_queue):
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue)):
        half_past_eight = NINE - timedelta(minutes=30)
        request = on_firing(
            "tests.jobs.ReportJob[eu]",
            "30 8 * * *",
            "Europe/Paris",
            half_past_eight + timedelta(seconds=1),
        )
    assert request.concurrency_key == f"eu:scheduled:{int(half_past_eight.timestamp())}"


def test_a_late_firing_is_skipped_unless_the_schedule_catches_up(unique_queue, caplog):
    late = NINE + timedelta(minutes=20)  # beat came back at 09:20
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue)):
        with caplog.at_level(logging.INFO, logger="django_jobkit.scheduling"):
            assert on_firing("tests.jobs.ReportJob[eu]", "0 9 * * *", "Europe/Paris", late) is None
        assert "fired 1200 s late" in caplog.text
        with override_settings(JOBKIT_SCHEDULE_MISFIRE_GRACE=1800):
            assert on_firing("tests.jobs.ReportJob[eu]", "0 9 * * *", "Europe/Paris", late)
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue, catch_up=True)):
        tomorrow_late = late + timedelta(days=1)
        assert on_firing("tests.jobs.ReportJob[eu]", "0 9 * * *", "Europe/Paris", tomorrow_late)


def test_a_manual_run_from_the_admin_enqueues_the_job_now(unique_queue):
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue)):
        request = on_firing("tests.jobs.ReportJob[eu]", "0 9 * * *", "Europe/Paris", None)
    assert request.concurrency_key == "eu"
    assert request.load_job().region == "eu"


def test_a_schedule_gone_from_the_code_fires_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger="django_jobkit.scheduling"):
        assert on_firing("tests.jobs.GoneJob", "0 9 * * *", "UTC", NINE) is None
    assert "no longer exists" in caplog.text


def test_beat_start_catches_up_the_most_recent_missed_occurrences(unique_queue):
    schedule = settings_schedule(unique_queue, "*/10 * * * *", catch_up=True)
    now = datetime(2025, 6, 2, 12, 0, 30, tzinfo=UTC)
    with override_settings(JOBKIT_SCHEDULE=schedule, JOBKIT_SCHEDULE_CATCH_UP_LIMIT=3):
        sync_schedules()
        # Beat last fired the 11:00 occurrence, then was down until 12:00:30.
        rows = managed_rows().filter(name="django-jobkit: tests.jobs.ReportJob[eu]")
        rows.update(last_run_at=datetime(2025, 6, 2, 11, 0, 2, tzinfo=UTC))
        caught_up = catch_up(now)
        assert [r.concurrency_key for r in caught_up] == [
            f"eu:scheduled:{int(datetime(2025, 6, 2, h, m, tzinfo=UTC).timestamp())}"
            for h, m in [(11, 40), (11, 50), (12, 0)]
        ]
        assert catch_up(now) == []  # each missed occurrence once
    with override_settings(JOBKIT_SCHEDULE=settings_schedule(unique_queue, "*/10 * * * *")):
        rows.update(last_run_at=datetime(2025, 6, 1, tzinfo=UTC))
        assert catch_up(now) == []  # without catch_up, missed occurrences stay missed
    # A paused row has no last run (beat clears it): nothing to catch up.
    paused = PeriodicTask.objects.get(name="django-jobkit: tests.jobs.ReportJob[eu]")
    paused.enabled = False
    paused.save()
    with override_settings(JOBKIT_SCHEDULE=schedule):
        assert catch_up(now) == []


RACER = """
import sys

import django

django.setup()

from datetime import UTC, datetime

from django_jobkit import Schedule
from django_jobkit.scheduling.beat import fire
from django_jobkit.scheduling.entries import ScheduledJob

queue, epochs = sys.argv[1], [int(e) for e in sys.argv[2:]]
entry = ScheduledJob(
    name="tests.jobs.NoopJob",
    job_name="tests.jobs.NoopJob",
    schedule=Schedule.from_cron("* * * * *", "UTC"),
    kwargs={"queue": queue},
)
print("ready", flush=True)
sys.stdin.readline()
created = sum(fire(entry, datetime.fromtimestamp(e, UTC)) is not None for e in epochs)
print(f"created {created}", flush=True)
"""


def test_concurrent_firings_of_one_occurrence_make_one_request(test_database_env, unique_queue):
    """Eight processes (eight beats' firings) race over the same ten occurrences."""
    start = int(datetime(2025, 6, 2, 9, tzinfo=UTC).timestamp())
    epochs = [str(start + 60 * i) for i in range(10)]
    # The first occurrence already ran and left only its result: it must not come back.
    first = uuid.uuid4()
    JobResult.objects.create(
        job_class="tests.jobs.NoopJob",
        concurrency_key=f"scheduled:{epochs[0]}",
        queue=unique_queue,
        job_request_uuid=first,
        root_uuid=first,
        status=JobResult.Status.SUCCESSFUL,
    )
    outputs = race(["-c", RACER, unique_queue, *epochs], test_database_env)
    per_key = Counter(r.concurrency_key for r in requests_of(unique_queue))
    assert per_key == Counter(f"scheduled:{e}" for e in epochs[1:])
    assert sum(int(out.split()[-1]) for out in outputs) == 9
