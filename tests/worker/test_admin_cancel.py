"""The admin's delete action on a running job cancels it: a real worker stops the job and
records CANCELLED (deleting the row would have left the job with no result)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse

from django_jobkit.models import JobProcess, JobResult
from tests.conftest import wait_for
from tests.jobs import SlowJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_the_delete_action_on_a_running_process_cancels_it(start_worker_process, client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    start_worker_process(concurrency=1)
    request = SlowJob(30).run_in_worker(retries=2)
    process = wait_for(
        lambda: JobProcess.objects.filter(job_request_uuid=request.uuid).first(),
        30,
        "the job to start",
    )
    page = client.post(
        reverse("admin:django_jobkit_jobprocess_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(process.pk)], "post": "yes"},
        follow=True,
    )
    assert "Cancelled 1 of 1 job processes." in page.content.decode()
    result = request.wait(timeout=20)
    assert result.status == JobResult.Status.CANCELLED
    assert result.error == "cancelled while running"
    assert result.retry_job_request_uuid is None  # not retried
    assert result.duration < 20
    assert not JobProcess.objects.exists()
