"""Deleting in the admin loses no job: waiting requests are cancelled (a CANCELLED result),
a live worker's row cannot be deleted, and history (results, stale workers) can.

Through the real admin views; a running process cancelled from the admin, with a real
worker, is in tests/worker/test_admin_cancel.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from django_jobkit.models import JobRequest, JobResult, JobWorker
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)

S = JobResult.Status
WAIT = 3600  # far enough to stay in the database: no message, no worker needed


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def changelist(model: str) -> str:
    return reverse(f"admin:django_jobkit_{model}_changelist")


def delete_action(client, model: str, pks: list, confirmed: bool):
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    if confirmed:
        data["post"] = "yes"
    return client.post(changelist(model), data, follow=confirmed)


def test_the_delete_action_on_waiting_requests_cancels_them(admin_client):
    waiting = [NoopJob(i).run_in_worker(delay=WAIT) for i in range(2)]
    pks = [request.pk for request in waiting]

    confirm = delete_action(admin_client, "jobrequest", pks, confirmed=False)
    assert confirm.status_code == 200
    assert confirm.templates[0].name == "admin/django_jobkit/cancel_selected_confirmation.html"
    body = confirm.content.decode()
    assert "Cancel the selected job requests?" in body
    assert str(waiting[0].job_request_uuid) in body
    assert JobRequest.objects.count() == 2 and not JobResult.objects.exists()  # not yet

    done = delete_action(admin_client, "jobrequest", pks, confirmed=True)
    assert done.status_code == 200
    assert "Cancelled 2 of 2 job requests." in done.content.decode()
    assert not JobRequest.objects.exists()
    results = JobResult.objects.filter(job_request_uuid__in=[r.job_request_uuid for r in waiting])
    assert sorted(r.status for r in results) == [S.CANCELLED, S.CANCELLED]
    assert {r.error for r in results} == {"cancelled before it started"}


def test_the_action_is_offered_as_a_cancel(admin_client):
    NoopJob().run_in_worker(delay=WAIT)
    for model in ("jobrequest", "jobprocess"):
        page = admin_client.get(changelist(model))
        actions = dict(page.context["action_form"].fields["action"].choices)
        assert actions["delete_selected"].startswith("Cancel selected"), actions
    actions = dict(
        admin_client.get(changelist("jobresult")).context["action_form"].fields["action"].choices
    )
    assert actions["delete_selected"].startswith("Delete selected")


def test_a_waiting_request_has_no_delete_page(admin_client):
    request = NoopJob().run_in_worker(delay=WAIT)
    url = reverse("admin:django_jobkit_jobrequest_delete", args=[request.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert JobRequest.objects.filter(pk=request.pk).exists()
    change = admin_client.get(reverse("admin:django_jobkit_jobrequest_change", args=[request.pk]))
    assert url not in change.content.decode()


def test_a_request_that_ended_meanwhile_gets_no_second_result(admin_client):
    request = NoopJob().run_in_worker(delay=WAIT)
    request.cancel()  # between the page and the click
    done = delete_action(admin_client, "jobrequest", [request.pk], confirmed=True)
    assert done.status_code == 200
    assert JobResult.objects.filter(job_request_uuid=request.job_request_uuid).count() == 1


def worker_row(name: str, seen_ago: float) -> JobWorker:
    return JobWorker.objects.create(
        name=name,
        host="h",
        pid=abs(hash(name)) % 100000,
        last_seen=timezone.now() - timedelta(seconds=seen_ago),
    )


def test_deleting_a_live_worker_row_is_refused(admin_client):
    live = worker_row("live@h", seen_ago=1)
    confirm = delete_action(admin_client, "jobworker", [live.pk], confirmed=False)
    body = confirm.content.decode()
    assert "live@h is alive" in body and "stop the worker first" in body
    assert 'name="post"' not in body  # no confirmation button
    posted = delete_action(admin_client, "jobworker", [live.pk], confirmed=True)
    assert posted.status_code == 200
    assert JobWorker.objects.filter(pk=live.pk).exists()

    one = reverse("admin:django_jobkit_jobworker_delete", args=[live.pk])
    assert "live@h is alive" in admin_client.get(one).content.decode()
    admin_client.post(one, {"post": "yes"})
    assert JobWorker.objects.filter(pk=live.pk).exists()


def test_stale_worker_rows_and_results_can_be_deleted(admin_client, settings):
    stale = worker_row("stale@h", seen_ago=settings.JOBKIT_HEARTBEAT_TIMEOUT + 5)
    delete_action(admin_client, "jobworker", [stale.pk], confirmed=True)
    assert not JobWorker.objects.filter(pk=stale.pk).exists()

    result = NoopJob().run_in_worker(delay=WAIT).cancel()
    done = delete_action(admin_client, "jobresult", [result.pk], confirmed=True)
    assert "Successfully deleted 1" in done.content.decode()
    assert not JobResult.objects.exists()
