"""The admin's run-now action sends a delayed request at once: a real worker runs it long
before its start time."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse

from django_jobkit.models import JobResult
from tests.jobs import NoopJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_run_now_sends_a_delayed_request_to_a_worker(start_worker_process, fresh_queue, client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    queue = fresh_queue()
    start_worker_process([queue])
    request = NoopJob("now", queue=queue).run_in_worker(delay=3600)

    page = client.post(
        reverse("admin:django_jobkit_jobrequest_changelist"),
        {"action": "run_now_selected", "index": "0", ACTION_CHECKBOX_NAME: [str(request.pk)]},
        follow=True,
    )

    assert "Sent 1 delayed job request to run now." in page.content.decode()
    result = request.wait(timeout=20)
    assert result.status == JobResult.Status.SUCCESSFUL and result.return_value == "now"
