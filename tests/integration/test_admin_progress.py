"""The processes admin renders a progress bar per row, marked for progress.js, and serves the
events stream under its own URL: staff login first, then the stream's permission rule."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from django_jobkit.models import JobProcess, JobRequest
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)

CLAIMED = {"host": "h", "pid": 1, "pid_start_time": None, "worker_name": "w", "worker_pid": 1}


def running_process(progress: float | None, message: str) -> JobProcess:
    request = NoopJob().run_in_worker(delay=3600)
    assert request is not None
    JobRequest.objects.filter(pk=request.pk).update(start_at=None)
    process, _ = JobRequest.objects.claim(request.uuid, {**CLAIMED, "celery_task_id": "t"})
    assert process is not None
    JobProcess.objects.set_progress(process.pk, progress, message)
    return process


def test_the_list_and_the_detail_page_show_a_bar_marked_to_follow_the_job(admin_client):
    process = running_process(0.4, "copying <files>")
    idle = running_process(None, "")
    events = reverse("admin:django_jobkit_jobprocess_events")
    page = admin_client.get(reverse("admin:django_jobkit_jobprocess_changelist")).content.decode()
    assert f'data-jobkit-job="{process.job_request_uuid}"' in page
    assert f'data-jobkit-events="{events}"' in page
    assert '<progress max="1" value="0.4">40%</progress>' in page
    assert "40% copying &lt;files&gt;" in page  # the message, escaped
    assert f'data-jobkit-job="{idle.job_request_uuid}"' in page
    assert "<progress max='1'></progress>" in page  # nothing reported: indeterminate
    assert "django_jobkit/progress.js" in page and "django_jobkit/progress.css" in page

    detail = admin_client.get(
        reverse("admin:django_jobkit_jobprocess_change", args=[process.pk])
    ).content.decode()
    assert f'data-jobkit-job="{process.job_request_uuid}"' in detail
    assert "django_jobkit/progress.js" in detail


def test_the_admins_events_url_streams_for_staff_and_sends_others_to_the_login(
    admin_client, client, django_user_model: Any
):
    process = running_process(0.5, "half")
    url = reverse("admin:django_jobkit_jobprocess_events") + f"?jobs={process.job_request_uuid}"
    response = admin_client.get(url)
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    next(chunks)
    assert b'"message": "half"' in next(chunks)
    response.close()

    assert client.get(url).status_code == 302  # not logged in: the admin's login page
    user = django_user_model.objects.create_user("s", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(url).status_code == 403  # staff, but may not view jobs
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_job"))
    assert client.get(url).status_code == 200


def test_the_progress_js_is_found_as_a_static_file():
    from pathlib import Path

    from django.contrib.staticfiles import finders

    path = finders.find("django_jobkit/progress.js")
    assert path is not None and "EventSource" in Path(path).read_text()
