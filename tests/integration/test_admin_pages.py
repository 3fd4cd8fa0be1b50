"""The admin's detail pages: arguments and return value as indented JSON with model references
linked, the traceback as preformatted text, times to the second with zone and relative form,
the retry chain linked both ways, and the periodic task that fired a scheduled job."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from django_jobkit import Schedule
from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.execution.runner import claim
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
from django_jobkit.scheduling.beat import managed_rows, sync_schedules
from django_jobkit.scheduling.entries import ScheduledJob
from tests.jobs import ReportJob, UsernameJob

pytestmark = pytest.mark.django_db

TRACEBACK = """Traceback (most recent call last):
  File "/app/jobs.py", line 12, in run
    raise ConnectionError("refused")
ConnectionError: refused"""


class TaskRequest:
    hostname = "celery@box1"
    id = "t"


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def page(client, obj) -> str:
    meta = obj._meta
    response = client.get(
        reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    )
    assert response.status_code == 200
    return response.content.decode()


def change_url(obj) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def fail(request_uuid) -> JobResult:
    process = claim(str(request_uuid), TaskRequest())
    assert process is not None
    outcome = Outcome(
        JobResult.Status.ERRORED, error="ConnectionError: refused", traceback=TRACEBACK
    )
    result = record(process, outcome)
    assert result is not None
    return result


def test_a_result_page_links_the_user_argument_and_keeps_json_and_traceback_indented(
    admin_client,
):
    user = User.objects.create_user("alice")
    request = UsernameJob(user, retries=0).run_in_worker()
    result = fail(request.uuid)
    JobResult.objects.filter(pk=result.pk).update(return_value={"pk": 1, "names": ["a", "b"]})

    html = page(admin_client, result)

    user_url = reverse("admin:auth_user_change", args=[user.pk])
    assert re.search(
        r'<pre class="jobkit-json"[^>]*>\{\n  &quot;args&quot;: \[\n    <a href="'
        + re.escape(user_url)
        + r'" title="auth.user pk=\d+">\{[^<]*&quot;model&quot;: &quot;auth.user&quot;[^<]*\}</a>',
        html,
    )
    assert "{\n  &quot;pk&quot;: 1,\n  &quot;names&quot;: [\n    &quot;a&quot;," in html
    assert '<pre class="jobkit-pre"' in html
    assert "\n  File &quot;/app/jobs.py&quot;, line 12, in run\n    raise ConnectionError" in html
    ended = result.ended_at.astimezone(UTC)
    assert (
        f'<span style="white-space:nowrap">{ended:%Y-%m-%d}</span> '
        f'<span style="white-space:nowrap">{ended:%H:%M:%S} UTC</span></span><br>'
    ) in html
    assert re.search(r'class="jobkit-relative"[^>]*>(now|\d+ s ago)<', html)
    assert "not fired by a schedule" in html


def test_a_model_argument_without_an_admin_page_is_shown_unlinked(admin_client):
    request = JobRequest.objects.create(
        job_class="tests.jobs.NoopJob",
        parameters={
            "args": [{"__jobkit__": "model", "model": "sessions.session", "pk": "k"}],
            "kwargs": {},
        },
        job_request_uuid="00000000-0000-0000-0000-000000000001",
        root_uuid="00000000-0000-0000-0000-000000000001",
    )
    html = page(admin_client, request)
    assert "&quot;sessions.session&quot;" in html
    assert "/admin/sessions/" not in html


def test_the_retry_chain_is_linked_both_ways_from_every_attempt(admin_client):
    first_request = UsernameJob(User.objects.create_user("bob"), retries=2).run_in_worker()
    first = fail(first_request.uuid)
    second = fail(first.retry_job_request_uuid)
    third_request = JobRequest.objects.get(job_request_uuid=second.retry_job_request_uuid)

    middle = page(admin_client, second)
    assert re.search(r"previous: <a href=\"" + change_url(first) + r"\">attempt 1 of 3</a>", middle)
    assert re.search(
        r"next: <a href=\"" + change_url(third_request) + r"\">attempt 3 of 3</a>", middle
    )
    assert f"?root_uuid={first.root_uuid}" in middle

    start = page(admin_client, first)
    assert 'previous: <span class="jobkit-empty">' in start
    assert f'next: <a href="{change_url(second)}">attempt 2 of 3</a>' in start

    waiting = page(admin_client, third_request)
    assert f'previous: <a href="{change_url(second)}">attempt 2 of 3</a>' in waiting
    for attempt in (first, second):
        assert change_url(attempt) in waiting

    # Once the third runs, the second's "next" is its process.
    process = claim(str(third_request.job_request_uuid), TaskRequest())
    assert isinstance(process, JobProcess)
    assert f'next: <a href="{change_url(process)}">attempt 3 of 3</a>' in page(admin_client, second)


def test_a_scheduled_job_links_the_periodic_task_that_fired_it(admin_client):
    managed_rows().delete()
    entry = ScheduledJob(
        name="tests.jobs.ReportJob[eu]",
        job_name="tests.jobs.ReportJob",
        schedule=Schedule.from_cron("0 9 * * *", "UTC"),
        key="eu",
    )
    sync_schedules([entry])
    (task,) = managed_rows()
    occurrence = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    request = ReportJob("eu").run_in_worker(concurrency_key=entry.occurrence_key(occurrence))

    html = page(admin_client, request)
    task_url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    assert f'<a href="{task_url}">django-jobkit: tests.jobs.ReportJob[eu]</a>' in html
    assert "(occurrence 2026-12-02 09:00:00 UTC)" in html


def test_a_process_page_shows_its_times_worker_and_chain(admin_client):
    request = UsernameJob(User.objects.create_user("carol"), retries=1).run_in_worker()
    first = fail(request.uuid)
    process = claim(str(first.retry_job_request_uuid), TaskRequest())
    assert isinstance(process, JobProcess)

    html = page(admin_client, process)
    assert "celery@box1" in html
    assert re.search(r'class="jobkit-relative"[^>]*>(now|\d+ s ago)<', html)  # started
    assert f'previous: <a href="{change_url(first)}">attempt 1 of 2</a>' in html
    assert f'<strong><a href="{change_url(process)}">attempt 2 of 2</a>' in html


def test_a_worker_page_shows_its_queues_state_and_jobs(admin_client):
    worker = JobWorker.objects.create(name="w@h", host="h", pid=7, queues=["default", "gpu"])
    html = page(admin_client, worker)
    assert "default, gpu" in html and "alive" in html


def test_a_worker_without_queues_shows_none(admin_client):
    worker = JobWorker.objects.create(name="w@h", host="h", pid=8, queues=[])
    assert 'class="jobkit-empty"' in page(admin_client, worker)
