"""The admin's job actions through the real admin views and database: retry, cancel, run now,
each behind its own permission (403 when forged), CSRF-protected, logged per job, and applied
to every row matching a filter in batches.

A retry and a cancel seen through to a worker's result are in tests/browser/test_admin_actions.py,
a delayed request run now by a real worker in tests/worker/test_admin_run_now.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_jobkit import bulk_run_in_worker
from django_jobkit.admin import actions, cancelling
from django_jobkit.execution.attempts import enqueue_attempt
from django_jobkit.models import JobProcess, JobRequest, JobResult
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)

S = JobResult.Status
WAIT = 3600  # far enough to stay in the database: no message, no worker needed
VIEW = ["view_jobrequest", "view_jobprocess", "view_jobresult"]


@pytest.fixture
def queue(fresh_queue: Any) -> str:
    """A queue of its own: the messages retries send are dropped after the run."""
    return str(fresh_queue())


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def staff_client(*codenames: str) -> Client:
    return staff_client_named("staff", *codenames)


def changelist(model: str, query: str = "") -> str:
    return reverse(f"admin:django_jobkit_{model}_changelist") + query


def act(client: Client, model: str, action: str, pks: list[Any], **extra: Any) -> Any:
    query = extra.pop("query", "")
    data = {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [str(pk) for pk in pks]}
    if "post" in extra:
        del data["index"]  # a confirmation page's form: it posts no index
    data.update(extra)
    return client.post(changelist(model, query), data, follow=True)


def ended(job: NoopJob, status: str, **options: Any) -> JobResult:
    """A request ended with `status` the way the engine ends one that did not run."""
    request = job.run_in_worker(delay=WAIT, **options)
    assert request is not None
    with transaction.atomic():
        locked = JobRequest.objects.locked(request.job_request_uuid)
        return JobRequest.objects.end(locked, status, "RuntimeError: boom")


def action_names(client: Client, model: str) -> set[str]:
    page = client.get(changelist(model))
    assert page.status_code == 200
    form = page.context["action_form"]  # None: no action at all, so no menu
    return set() if form is None else set(dict(form.fields["action"].choices)) - {""}


def messages_of(page: Any) -> str:
    return " | ".join(str(m) for m in page.context["messages"])


# Retry


def test_a_retry_is_the_next_attempt_of_the_same_chain(admin_client, queue):
    failed = ended(NoopJob(7, queue=queue), S.ERRORED, priority=3, retries=1)

    page = act(admin_client, "jobresult", "retry_selected", [failed.pk])

    new = JobRequest.objects.get(root_uuid=failed.root_uuid)
    assert "Retried 1 job result:" in messages_of(page)
    assert str(new.job_request_uuid) in messages_of(page)
    assert (new.retry_attempt, new.parameters, new.queue, new.priority, new.retries) == (
        1,
        failed.parameters,
        queue,
        3,
        1,
    )
    assert new.start_at is None and new.sent_at is not None  # sent at once
    failed.refresh_from_db()
    assert failed.retry_job_request_uuid == new.job_request_uuid
    entry = LogEntry.objects.get(object_id=str(failed.pk))
    assert entry.user.username == "admin"
    assert entry.content_type.model == "jobresult"
    assert "Retried" in entry.change_message and str(new.job_request_uuid) in entry.change_message


def test_a_chain_is_not_retried_twice(admin_client, queue):
    first = ended(NoopJob(queue=queue), S.LOST)
    again = ended(NoopJob(queue=queue), S.CANCELLED)

    act(admin_client, "jobresult", "retry_selected", [first.pk])
    page = act(admin_client, "jobresult", "retry_selected", [first.pk, again.pk])

    assert JobRequest.objects.filter(root_uuid=first.root_uuid).count() == 1
    assert JobRequest.objects.filter(root_uuid=again.root_uuid).count() == 1  # CANCELLED: retried
    assert "1 not retried: a later attempt of the same job waits or runs." in messages_of(page)


def test_a_chain_whose_later_attempt_succeeded_is_not_retried(admin_client, queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    later = enqueue_attempt(failed, 1, delay=WAIT)
    assert later is not None
    with transaction.atomic():
        JobRequest.objects.end(JobRequest.objects.locked(later.job_request_uuid), S.SUCCESSFUL, "")

    page = act(admin_client, "jobresult", "retry_selected", [failed.pk])

    assert not JobRequest.objects.exists()
    assert "a later attempt of the same job succeeded" in messages_of(page)


def test_successful_results_are_never_retried(admin_client, queue):
    done = ended(NoopJob(queue=queue), S.SUCCESSFUL)

    page = act(admin_client, "jobresult", "retry_selected", [done.pk])

    assert not JobRequest.objects.exists()
    assert "1 did not fail (successful or deferred): not retried." in messages_of(page)
    filtered = admin_client.get(changelist("jobresult", "?status__exact=SUCCESSFUL"))
    assert "retry_selected" not in dict(filtered.context["action_form"].fields["action"].choices)
    detail = admin_client.get(reverse("admin:django_jobkit_jobresult_change", args=[done.pk]))
    assert "jobkit-retry-form" not in detail.content.decode()


def test_a_held_concurrency_key_is_named(admin_client, queue):
    failed = ended(NoopJob(queue=queue, key="tenant-1"), S.ERRORED)
    holder = NoopJob(queue=queue, key="tenant-1").run_in_worker(delay=WAIT)

    page = act(admin_client, "jobresult", "retry_selected", [failed.pk])

    assert list(JobRequest.objects.values_list("pk", flat=True)) == [holder.pk]
    assert "its concurrency key is held" in messages_of(page)
    failed.refresh_from_db()
    assert failed.retry_job_request_uuid is None
    assert not LogEntry.objects.exists()


def test_a_failed_result_page_has_a_retry_button_that_retries(admin_client, queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    detail = admin_client.get(reverse("admin:django_jobkit_jobresult_change", args=[failed.pk]))
    body = detail.content.decode()
    assert 'id="jobkit-retry-form"' in body and 'value="retry_selected"' in body

    act(admin_client, "jobresult", "retry_selected", [failed.pk])  # what the button posts
    assert JobRequest.objects.filter(root_uuid=failed.root_uuid, retry_attempt=1).exists()


# Cancel and run now


def test_cancel_logs_each_job(admin_client):
    waiting = [NoopJob(i).run_in_worker(delay=WAIT) for i in range(2)]

    page = act(admin_client, "jobrequest", "delete_selected", [r.pk for r in waiting], post="yes")

    assert "Cancelled 2 of 2 job requests." in messages_of(page)
    assert sorted(JobResult.objects.values_list("status", flat=True)) == [S.CANCELLED] * 2
    entries = LogEntry.objects.filter(content_type__model="jobrequest")
    assert sorted(entries.values_list("object_id", flat=True)) == sorted(str(r.pk) for r in waiting)
    assert all("Cancelled before it started" in e.change_message for e in entries)


def test_run_now_clears_the_delay_and_logs_it(admin_client, queue):
    delayed = NoopJob(queue=queue).run_in_worker(delay=WAIT)
    plain = NoopJob(queue=queue).run_in_worker()

    page = act(admin_client, "jobrequest", "run_now_selected", [delayed.pk, plain.pk])

    delayed.refresh_from_db()
    assert delayed.start_at is None and delayed.sent_at is not None
    assert "Sent 1 delayed job request to run now." in messages_of(page)
    assert "1 were not delayed" in messages_of(page)
    entry = LogEntry.objects.get()
    assert entry.object_id == str(delayed.pk) and "Run now" in entry.change_message


# Permissions and CSRF


def test_staff_without_the_permissions_sees_no_actions_and_gets_403(queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    waiting = NoopJob(queue=queue).run_in_worker(delay=WAIT)
    client = staff_client()

    assert action_names(client, "jobresult") == set()
    assert action_names(client, "jobrequest") == set()
    assert action_names(client, "jobprocess") == set()
    detail = client.get(reverse("admin:django_jobkit_jobresult_change", args=[failed.pk]))
    assert detail.status_code == 200 and "jobkit-retry-form" not in detail.content.decode()

    for model, action, pk, extra in (
        ("jobresult", "retry_selected", failed.pk, {}),
        ("jobrequest", "delete_selected", waiting.pk, {"post": "yes"}),
        ("jobrequest", "run_now_selected", waiting.pk, {}),
    ):
        data = {"action": action, ACTION_CHECKBOX_NAME: [str(pk)], **extra}
        if not extra:
            data["index"] = "0"
        assert client.post(changelist(model), data).status_code == 403, action
    assert JobRequest.objects.filter(pk=waiting.pk, start_at__isnull=False).exists()
    assert JobResult.objects.count() == 1 and not LogEntry.objects.exists()


def test_each_permission_grants_its_own_action_only(queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    waiting = NoopJob(queue=queue).run_in_worker(delay=WAIT)
    client = staff_client("retry_job")

    assert action_names(client, "jobresult") == {"retry_selected"}
    assert action_names(client, "jobrequest") == set()
    forged = client.post(
        changelist("jobrequest"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(waiting.pk)], "post": "yes"},
    )
    assert forged.status_code == 403
    assert JobRequest.objects.filter(pk=waiting.pk).exists()
    act(client, "jobresult", "retry_selected", [failed.pk])
    assert JobRequest.objects.filter(root_uuid=failed.root_uuid).exists()

    canceller = staff_client_named("canceller", "cancel_job", "run_job_now")
    assert action_names(canceller, "jobrequest") == {"delete_selected", "run_now_selected"}
    assert action_names(canceller, "jobprocess") == {"delete_selected"}
    # Not the delete permission: cancel_job alone cancels, and still never drops the row.
    act(canceller, "jobrequest", "delete_selected", [waiting.pk], post="yes")
    assert JobResult.objects.get(job_request_uuid=waiting.job_request_uuid).status == S.CANCELLED


def staff_client_named(name: str, *codenames: str) -> Client:
    user = User.objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="django_jobkit", codename__in=[*VIEW, *codenames]
        )
    )
    client = Client()
    client.force_login(user)
    return client


def test_a_user_who_is_not_staff_gets_the_login_page(queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    user = User.objects.create_user("visitor", "v@example.com", "pw")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_jobkit"))
    client = Client()
    client.force_login(user)

    response = client.post(
        changelist("jobresult"),
        {"action": "retry_selected", "index": "0", ACTION_CHECKBOX_NAME: [str(failed.pk)]},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert not JobRequest.objects.exists()


def test_every_action_post_needs_the_csrf_token(queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    data = {"action": "retry_selected", "index": "0", ACTION_CHECKBOX_NAME: [str(failed.pk)]}

    assert client.post(changelist("jobresult"), data).status_code == 403
    assert not JobRequest.objects.exists()

    client.get(changelist("jobresult"))  # sets the CSRF cookie, as the page does
    token = client.cookies["csrftoken"].value
    done = client.post(changelist("jobresult"), {**data, "csrfmiddlewaretoken": token})
    assert done.status_code == 302
    assert JobRequest.objects.filter(root_uuid=failed.root_uuid).exists()


# Every row matching a filter, in batches


def test_cancel_all_matching_a_filter_goes_in_batches(admin_client, queue, monkeypatch):
    monkeypatch.setattr(cancelling, "BATCH_SIZE", 50)
    other = "elsewhere-" + queue
    many = bulk_run_in_worker([NoopJob(i, queue=queue) for i in range(120)], delay=WAIT)
    kept = NoopJob(queue=other).run_in_worker(delay=WAIT)
    query = f"?queue__exact={queue}"
    one_page = [str(many[0].pk)]  # what the page posts: its own checked rows, not all 120
    data = {"action": "delete_selected", ACTION_CHECKBOX_NAME: one_page, "select_across": "1"}

    confirm = admin_client.post(changelist("jobrequest", query), data)
    body = confirm.content.decode()
    assert "Cancel all job requests matching this filter?" in body
    assert body.count(f'name="{ACTION_CHECKBOX_NAME}"') == 1
    assert 'name="select_across" value="1"' in body and "and 20 more" in body

    with CaptureQueriesContext(connection) as queries:
        done = admin_client.post(changelist("jobrequest", query), {**data, "post": "yes"})
    assert done.status_code == 302
    table = connection.ops.quote_name(JobRequest._meta.db_table)
    batches = [
        q["sql"]
        for q in queries
        if f"FROM {table}" in q["sql"] and q["sql"].rstrip().endswith("LIMIT 50")
    ]
    assert len(batches) == 3, batches  # 50 + 50 + 20
    assert list(JobRequest.objects.values_list("pk", flat=True)) == [kept.pk]
    assert JobResult.objects.filter(status=S.CANCELLED).count() == 120
    assert LogEntry.objects.count() == 120


def test_retry_all_matching_a_filter_goes_in_batches(admin_client, queue, monkeypatch):
    monkeypatch.setattr(actions, "BATCH_SIZE", 25)
    failed = [ended(NoopJob(i, queue=queue), S.ERRORED) for i in range(60)]
    done = ended(NoopJob(queue=queue), S.SUCCESSFUL)

    with CaptureQueriesContext(connection) as queries:
        page = act(
            admin_client,
            "jobresult",
            "retry_selected",
            [failed[0].pk],
            select_across="1",
            query=f"?queue__exact={queue}",
        )
    batches = [q for q in queries if q["sql"].rstrip().endswith("LIMIT 25")]
    assert len(batches) == 3  # 25 + 25 + 10
    assert "Retried 60 job results" in messages_of(page) and "and 55 more" in messages_of(page)
    assert JobRequest.objects.count() == 60
    assert not JobRequest.objects.filter(root_uuid=done.root_uuid).exists()
    assert "1 did not fail" in messages_of(page)
    assert JobProcess.objects.count() == 0


def test_a_job_that_cannot_be_rebuilt_is_reported_not_retried(admin_client, queue):
    failed = ended(NoopJob(queue=queue), S.ERRORED)
    JobResult.objects.filter(pk=failed.pk).update(job_class="gone.jobs.RemovedJob")

    page = act(admin_client, "jobresult", "retry_selected", [failed.pk])

    assert not JobRequest.objects.exists()
    assert "Not retried: gone.jobs.RemovedJob" in messages_of(page)
    assert "UnknownJobClass: unknown job class 'gone.jobs.RemovedJob'" in messages_of(page)
