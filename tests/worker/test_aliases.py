"""A job class renamed after enqueue: `@register_job(alias=...)` keeps old rows and messages."""

from __future__ import annotations

import pytest

from django_jobkit import registry
from django_jobkit.models import JobRequest, JobResult
from tests.jobs import RenamedJob

pytestmark = pytest.mark.worker


def test_a_row_and_message_under_the_old_name_still_run(inprocess_worker, celery_app):
    assert "legacy.jobs.RenamedJob" in celery_app.tasks  # the old task name is still served
    request = RenamedJob().run_in_worker(delay=3600)  # written, not sent
    # The row as the old code wrote it, and the message it sent: the old task name.
    JobRequest.objects.filter(pk=request.pk).update(
        job_class="legacy.jobs.RenamedJob", start_at=None
    )
    celery_app.send_task(
        "legacy.jobs.RenamedJob", args=[str(request.uuid)], queue="default", priority=4
    )
    result = request.wait(timeout=30)
    assert result.status == JobResult.Status.SUCCESSFUL
    assert result.return_value == "renamed"
    assert registry.job_class_for("legacy.jobs.RenamedJob") is RenamedJob
