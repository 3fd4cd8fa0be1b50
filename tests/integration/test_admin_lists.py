"""The admin's lists answer questions at a glance: status and what comes next, error class
and summary, attempt n of m, why a request waits, how long a job runs, which workers live;
with a bounded error-class filter and search, and a constant number of queries per page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from django_jobkit.admin import filters
from django_jobkit.admin.results import JobResultAdmin
from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker

pytestmark = pytest.mark.django_db

RESULTS = reverse("admin:django_jobkit_jobresult_changelist")
REQUESTS = reverse("admin:django_jobkit_jobrequest_changelist")
PROCESSES = reverse("admin:django_jobkit_jobprocess_changelist")
WORKERS = reverse("admin:django_jobkit_jobworker_changelist")


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def job_fields(**fields):
    request_uuid = fields.pop("job_request_uuid", None) or uuid.uuid4()
    return {
        "job_class": "tests.jobs.FailingJob",
        "parameters": {"args": [], "kwargs": {}},
        "job_request_uuid": request_uuid,
        "root_uuid": fields.pop("root_uuid", request_uuid),
        **fields,
    }


def result(**fields) -> JobResult:
    fields.setdefault("status", JobResult.Status.SUCCESSFUL)
    return JobResult.objects.create(**job_fields(**fields))


def rows(page) -> list[str]:
    """The text of each row of a changelist, tags stripped."""
    html = page.content.decode()
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", html.split('id="result_list"')[1], re.S)[1:]
    ]


def test_results_show_status_next_step_attempt_error_worker_and_duration(admin_client):
    now = timezone.now()
    result(
        status=JobResult.Status.ERRORED,
        error="ConnectionError: partner API refused the connection\nmore detail",
        retries=2,
        retry_attempt=0,
        retry_job_request_uuid=uuid.uuid4(),
        worker_name="celery@box1",
        started_at=now - timedelta(seconds=2.5),
        ended_at=now,
    )
    result(
        status=JobResult.Status.LOST,
        error="its worker died",
        retries=2,
        retry_attempt=2,
        ended_at=now - timedelta(minutes=1),
    )
    result(status=JobResult.Status.SUCCESSFUL, ended_at=now - timedelta(minutes=3))

    page = admin_client.get(RESULTS)
    html = page.content.decode()
    errored, lost, successful = rows(page)

    assert "Errored will retry" in errored
    assert "1 of 3" in errored
    assert "ConnectionError partner API refused the connection" in errored
    assert "more detail" not in errored  # one line
    assert "celery@box1" in errored and "2.500 s" in errored
    assert "Lost final" in lost and "3 of 3" in lost
    assert "Successful" in successful and "final" not in successful
    assert "3 min ago" in successful and re.search(r"\d\d:\d\d:\d\d UTC", successful)
    assert 'class="jobkit-status jobkit-status-errored" style="background:#c62828' in html


def test_the_error_class_filter_offers_classes_of_the_latest_results_only(
    admin_client, monkeypatch
):
    monkeypatch.setattr(filters, "ERROR_CLASS_SAMPLE", 3)
    old = timezone.now() - timedelta(days=3)
    for i in range(3):
        result(status=JobResult.Status.ERRORED, error=f"OldError: {i}", ended_at=old)
    for i in range(3):
        result(status=JobResult.Status.ERRORED, error=f"KeyError: 'k{i}'")

    page = admin_client.get(RESULTS)
    assert "?error_class=KeyError" in page.content.decode()
    assert "error_class=OldError" not in page.content.decode()

    filtered = admin_client.get(RESULTS, {"error_class": "KeyError"})
    assert filtered.context["cl"].result_count == 3
    # A class chosen from an older page still filters, and shows as the active choice.
    older = admin_client.get(RESULTS, {"error_class": "OldError"})
    assert older.context["cl"].result_count == 3
    assert re.search(
        r'class="selected">\s*<a href="\?error_class=OldError"', older.content.decode()
    )


def test_search_finds_error_text_and_parameters_among_the_most_recent_results(
    admin_client, monkeypatch
):
    old = result(
        status=JobResult.Status.ERRORED,
        error="ConnectionError: refused",
        ended_at=timezone.now() - timedelta(days=30),
    )
    recent = result(
        status=JobResult.Status.ERRORED,
        error="ConnectionError: reset by peer",
        parameters={"args": ["alice@example.com"], "kwargs": {}},
    )
    monkeypatch.setattr(JobResultAdmin, "search_rows", 1)

    found = admin_client.get(RESULTS, {"q": "ConnectionError"})
    assert [r.pk for r in found.context["cl"].result_list] == [recent.pk]  # old one: outside
    by_parameter = admin_client.get(RESULTS, {"q": "alice@example"})
    assert [r.pk for r in by_parameter.context["cl"].result_list] == [recent.pk]
    # A whole uuid is looked up in the whole table.
    by_uuid = admin_client.get(RESULTS, {"q": str(old.job_request_uuid)})
    assert [r.pk for r in by_uuid.context["cl"].result_list] == [old.pk]
    # The 8 characters a list shows are searched for too, among the most recent.
    by_short_uuid = admin_client.get(RESULTS, {"q": str(recent.job_request_uuid)[:8]})
    assert [r.pk for r in by_short_uuid.context["cl"].result_list] == [recent.pk]
    assert "of the 10,000 most recent results" in found.content.decode()


def test_the_retry_chain_filter_shows_it_is_active_and_how_to_leave_it(admin_client):
    root = uuid.uuid4()
    result(root_uuid=root, status=JobResult.Status.ERRORED, retry_job_request_uuid=uuid.uuid4())
    result(root_uuid=root, retry_attempt=1)
    result()

    page = admin_client.get(RESULTS, {"root_uuid": str(root)})
    html = page.content.decode()
    assert page.context["cl"].result_count == 2
    assert f"attempts of {str(root)[:8]}" in html
    assert re.search(r'<li class="selected">\s*<a href="\?root_uuid=' + str(root), html)
    # "All" in the filter and "Clear all filters" both lead to the whole list.
    assert re.search(r'<a href="\?">&#10006; Clear all filters</a>', html)
    assert re.search(r'data-filter-title="retry chain".*?<a href="\?">All</a>', html, re.S)
    assert admin_client.get(RESULTS, {"root_uuid": "nonsense"}).status_code == 302  # ?e=1


def test_requests_show_their_age_and_why_they_wait(admin_client):
    now = timezone.now()
    JobRequest.objects.create(
        **job_fields(concurrency_key="delayed"),
        start_at=now + timedelta(hours=2, minutes=1),
        created_at=now - timedelta(minutes=5),
    )
    JobRequest.objects.create(**job_fields(concurrency_key="unsent"), sent_at=None)
    JobRequest.objects.create(
        **job_fields(concurrency_key="held"), sent_at=now - timedelta(seconds=30)
    )
    JobProcess.objects.create(**job_fields(concurrency_key="held"))

    page = admin_client.get(REQUESTS)
    by_key = {key: row for row in rows(page) for key in ("delayed", "unsent", "held") if key in row}
    assert "5 min" in by_key["delayed"]
    assert re.search(r"delayed until \S+ \d\d:\d\d:\d\d UTC \(in 2 h\)", by_key["delayed"])
    assert "not sent yet" in by_key["unsent"]
    assert "sent 30 s ago to queue default, waiting for a worker" in by_key["held"]
    assert "another job of its concurrency key is running" in by_key["held"]
    assert "is running" not in by_key["unsent"]


def test_processes_show_how_long_they_have_run(admin_client):
    JobProcess.objects.create(**job_fields(), started_at=timezone.now() - timedelta(minutes=7))
    (row,) = rows(admin_client.get(PROCESSES))
    assert "7 min" in row and "7 min ago" in row


def test_workers_show_queues_as_a_list_alive_or_stale_and_jobs_running(admin_client):
    now = timezone.now()
    JobWorker.objects.create(name="w1@a", host="a", pid=1, queues=["default", "slow"])
    JobWorker.objects.create(
        name="w2@b", host="b", pid=2, queues=["gpu"], last_seen=now - timedelta(hours=1)
    )
    for _ in range(2):
        JobProcess.objects.create(**job_fields(), host="a", worker_pid=1)
    JobProcess.objects.create(**job_fields(), host="a", worker_pid=99)  # another worker's

    first, second = rows(admin_client.get(WORKERS))
    assert first.startswith("w1@a alive default, slow 2 ")
    assert second.startswith("w2@b stale gpu 0 ")
    assert "[" not in first


@pytest.mark.parametrize(
    ("url", "make", "most"),
    [
        (RESULTS, lambda i: result(status="ERRORED", error=f"E{i % 5}: x", worker_name="w"), 7),
        (REQUESTS, lambda i: JobRequest.objects.create(**job_fields(concurrency_key=f"k{i}")), 6),
        (PROCESSES, lambda i: JobProcess.objects.create(**job_fields()), 7),
        (
            WORKERS,
            lambda i: JobWorker.objects.create(name=f"w{i}", host="h", pid=i, queues=["q"]),
            4,
        ),
    ],
    ids=["results", "requests", "processes", "workers"],
)
def test_a_changelist_of_50_rows_makes_a_constant_number_of_queries(
    admin_client, django_assert_max_num_queries, url, make, most
):
    for i in range(50):
        make(i)
    admin_client.get(url)  # sessions and the user warmed, as on any page after the first
    # An unfiltered list on PostgreSQL reads the planner's estimate before counting.
    with django_assert_max_num_queries(most + (connection.vendor == "postgresql")):
        page = admin_client.get(url)
    assert page.context["cl"].result_count == 50
    assert len(page.context["cl"].result_list) == 50
