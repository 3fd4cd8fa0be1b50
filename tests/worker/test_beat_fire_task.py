"""The task beat sends, run by a real worker: the firing time travels in a message header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.utils import timezone

from django_jobkit.models import JobResult
from django_jobkit.scheduling import beat
from tests.conftest import wait_for

pytestmark = pytest.mark.worker

SCHEDULE = [("tests.jobs.ReportJob", "* * * * *", {"kwargs": {"region": "eu"}, "key": "eu"})]


def result_for(key_prefix: str) -> JobResult | None:
    return JobResult.objects.filter(
        job_class="tests.jobs.ReportJob", concurrency_key__startswith=key_prefix
    ).first()


def test_a_message_sent_by_beat_enqueues_the_occurrence_it_was_sent_for(
    inprocess_worker, monkeypatch
):
    monkeypatch.setattr(beat, "_in_beat", True)  # this process plays beat: it stamps the time
    with override_settings(JOBKIT_SCHEDULE=SCHEDULE):
        before = timezone.now().replace(second=0, microsecond=0)
        beat.fire_schedule.apply_async(
            kwargs={"schedule": "tests.jobs.ReportJob[eu]", "expression": "* * * * *"},
            queue="default",
        )
        after = timezone.now()
        result = wait_for(lambda: result_for("eu:scheduled:"), 30, "the scheduled job's result")
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "eu"
    occurrence = datetime.fromtimestamp(int(result.concurrency_key.rsplit(":", 1)[1]), UTC)
    assert before <= occurrence <= after  # the minute the message was sent in


def test_a_message_not_sent_by_beat_runs_the_job_now(inprocess_worker):
    with override_settings(JOBKIT_SCHEDULE=SCHEDULE):
        beat.fire_schedule.apply_async(
            kwargs={"schedule": "tests.jobs.ReportJob[eu]", "expression": "* * * * *"},
            queue="default",
        )
        result = wait_for(lambda: result_for("eu"), 30, "the job's result")
    assert result.concurrency_key == "eu"
