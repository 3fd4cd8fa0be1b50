"""The admin lists every record and walks a job's retry chain from any of its attempts."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from django_jobkit.execution.outcomes import Outcome, record
from django_jobkit.execution.runner import claim
from django_jobkit.models import JobResult
from tests.jobs import FailingJob

pytestmark = pytest.mark.django_db(transaction=True)


class TaskRequest:
    hostname = "w@test"
    id = "t"


def fail(request_uuid) -> JobResult:
    process = claim(str(request_uuid), TaskRequest())
    return record(process, Outcome(JobResult.Status.ERRORED, error="RuntimeError: boom"))


@pytest.fixture
def admin_client(client):
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client


def test_admin_walks_the_retry_chain(admin_client):
    request = FailingJob(retries=2).run_in_worker()
    first = fail(request.uuid)
    second = fail(first.retry_job_request_uuid)
    third = fail(second.retry_job_request_uuid)
    assert third.retry_job_request_uuid is None

    changelist = reverse("admin:django_jobkit_jobresult_changelist")
    page = admin_client.get(changelist, {"root_uuid": str(request.uuid)})
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3

    detail = admin_client.get(reverse("admin:django_jobkit_jobresult_change", args=[second.pk]))
    body = detail.content.decode()
    assert detail.status_code == 200
    for attempt in (first, second, third):
        url = reverse("admin:django_jobkit_jobresult_change", args=[attempt.pk])
        assert url in body
    this_one = reverse("admin:django_jobkit_jobresult_change", args=[second.pk])
    assert f'<strong><a href="{this_one}">attempt 2 of 3</a>' in body


@pytest.mark.parametrize("model", ["jobrequest", "jobprocess", "jobresult", "jobworker"])
def test_every_record_has_a_changelist(admin_client, model):
    FailingJob().run_in_worker()
    assert admin_client.get(reverse(f"admin:django_jobkit_{model}_changelist")).status_code == 200
