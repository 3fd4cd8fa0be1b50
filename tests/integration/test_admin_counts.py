"""The lists' counts never scan a large table: the planner's estimate when unfiltered on
PostgreSQL, a count that stops at a cap everywhere (SQLite, PostgreSQL, MariaDB); and the
column filters offer values from a bounded sample, with a constant number of queries."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_jobkit.admin import filters
from django_jobkit.admin.counting import BoundedPaginator, capped_count, estimated_rows
from django_jobkit.models import JobProcess, JobRequest, JobResult

pytestmark = pytest.mark.django_db

RESULTS = reverse("admin:django_jobkit_jobresult_changelist")
REQUESTS = reverse("admin:django_jobkit_jobrequest_changelist")
PROCESSES = reverse("admin:django_jobkit_jobprocess_changelist")
#: On PostgreSQL an unfiltered list reads the estimate first (then counts a table under the cap).
ESTIMATE = 1 if connection.vendor == "postgresql" else 0
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the estimate is read from PostgreSQL's pg_class"
)


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def fields(**values):
    request_uuid = uuid.uuid4()
    return {
        "job_class": "tests.jobs.NoopJob",
        "job_request_uuid": request_uuid,
        "root_uuid": request_uuid,
        **values,
    }


def results(n: int, **values) -> None:
    JobResult.objects.bulk_create(
        [JobResult(**fields(status=JobResult.Status.SUCCESSFUL, **values)) for _ in range(n)]
    )


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(JobResult._meta.db_table)}")


def test_a_capped_count_stops_one_row_past_the_cap():
    results(5)
    everything = JobResult.objects.all()
    assert capped_count(everything, 3) == 4
    assert capped_count(everything, 5) == 5
    assert capped_count(everything.filter(status=JobResult.Status.ERRORED), 3) == 0
    with CaptureQueriesContext(connection) as context:
        capped_count(everything, 3)
    (query,) = context.captured_queries
    assert "LIMIT 4" in query["sql"] and "COUNT(" in query["sql"].upper()


def test_a_filtered_count_past_the_cap_is_capped_and_says_so():
    results(5, queue="slow")
    results(2, queue="default")
    paginator = BoundedPaginator(JobResult.objects.filter(queue="slow").order_by("pk"), 2)
    paginator.cap = 3
    assert paginator.count == 3
    assert paginator.capped and not paginator.estimated
    assert paginator.num_pages == 2  # the pages offered end at the cap

    under = BoundedPaginator(JobResult.objects.filter(queue="default").order_by("pk"), 2)
    under.cap = 3
    assert under.count == 2
    assert not under.capped and not under.estimated


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite and MariaDB: no estimate")
def test_without_postgresql_even_the_unfiltered_count_is_the_capped_one():
    results(5)
    assert estimated_rows(JobResult.objects.all()) is None
    paginator = BoundedPaginator(JobResult.objects.order_by("pk"), 2)
    paginator.cap = 3
    assert paginator.count == 3 and paginator.capped and not paginator.estimated


@postgresql_only
def test_on_postgresql_the_unfiltered_count_of_a_large_table_is_the_planners_estimate():
    results(6)
    analyze()
    assert estimated_rows(JobResult.objects.all()) == 6
    paginator = BoundedPaginator(JobResult.objects.order_by("pk"), 2)
    paginator.cap = 3
    with CaptureQueriesContext(connection) as context:
        assert paginator.count == 6
    assert paginator.estimated and not paginator.capped
    assert "reltuples" in context.captured_queries[0]["sql"]
    assert not any("COUNT(" in q["sql"].upper() for q in context.captured_queries)


@postgresql_only
def test_on_postgresql_a_small_table_is_counted_not_estimated():
    results(2)
    analyze()
    paginator = BoundedPaginator(JobResult.objects.order_by("pk"), 2)
    paginator.cap = 3  # the estimate (2) is under the cap: an exact count is cheap
    assert paginator.count == 2
    assert not paginator.estimated and not paginator.capped


def test_the_list_says_more_than_the_cap_and_makes_no_count_of_the_whole_table(
    admin_client, monkeypatch
):
    monkeypatch.setattr(BoundedPaginator, "cap", 3)
    results(5, queue="slow")
    with CaptureQueriesContext(connection) as context:
        page = admin_client.get(RESULTS, {"queue": "slow"})
    assert page.status_code == 200
    assert re.search(r"more than 3</span>\s*job results", page.content.decode())
    counts = [q["sql"] for q in context.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in sql for sql in counts)  # no COUNT(*) without a limit
    assert page.context["cl"].full_result_count is None  # the "N total" count is gone
    searched = admin_client.get(RESULTS, {"q": "NoopJob"})
    assert "more than 3 results (" in searched.content.decode()  # the search box says it too


@postgresql_only
def test_on_postgresql_the_unfiltered_list_shows_an_estimate(admin_client, monkeypatch):
    monkeypatch.setattr(BoundedPaginator, "cap", 3)
    results(6)
    analyze()
    page = admin_client.get(RESULTS)
    assert re.search(r"about 6</span>\s*job results", page.content.decode())


def test_column_filters_offer_values_of_the_latest_rows_registered_classes_and_the_choice(
    admin_client, monkeypatch
):
    monkeypatch.setattr(filters, "VALUE_SAMPLE", 3)
    for queue in ("old-queue", "new-a", "new-b", "new-c"):
        JobRequest.objects.create(**fields(queue=queue, job_class="tests.jobs.GoneJob"))
    html = admin_client.get(REQUESTS).content.decode()
    assert "?queue=new-a" in html and "?queue=new-c" in html
    assert "queue=old-queue" not in html  # past the sample: not read
    assert "?job_class=tests.jobs.NoopJob" in html  # registered, though no row has it

    chosen = admin_client.get(REQUESTS, {"queue": "old-queue"})
    assert chosen.context["cl"].result_count == 1
    assert re.search(r'class="selected">\s*<a href="\?queue=old-queue"', chosen.content.decode())


def test_the_column_filters_read_no_distinct_over_the_table(admin_client):
    JobProcess.objects.create(**fields(worker_name="celery@a"))
    with CaptureQueriesContext(connection) as context:
        page = admin_client.get(PROCESSES)
    assert "?worker_name=celery%40a" in page.content.decode()
    assert not any("DISTINCT" in q["sql"].upper() for q in context.captured_queries)


def test_the_requests_search_reads_the_newest_requests_and_a_whole_uuid_the_whole_table(
    admin_client, monkeypatch
):
    from django_jobkit.admin.requests import JobRequestAdmin

    monkeypatch.setattr(JobRequestAdmin, "search_rows", 2)
    old = JobRequest.objects.create(**fields(concurrency_key="report-1"))
    for i in (2, 3):
        JobRequest.objects.create(**fields(concurrency_key=f"report-{i}"))

    found = admin_client.get(REQUESTS, {"q": "report-"})
    assert found.context["cl"].result_count == 2  # the oldest is past the window
    assert old.pk not in {r.pk for r in found.context["cl"].result_list}
    by_uuid = admin_client.get(REQUESTS, {"q": str(old.job_request_uuid)})
    assert [r.pk for r in by_uuid.context["cl"].result_list] == [old.pk]
    by_root = admin_client.get(REQUESTS, {"q": str(old.root_uuid).upper()})
    assert [r.pk for r in by_root.context["cl"].result_list] == [old.pk]
    assert "10,000 requests written last" in found.content.decode()


def test_the_results_list_has_no_date_hierarchy(admin_client):
    results(1)
    page = admin_client.get(RESULTS)
    assert page.context["cl"].date_hierarchy is None
    assert 'class="xfull"' not in page.content.decode()


@pytest.mark.parametrize(
    ("url", "params", "most"),
    [
        (RESULTS, {}, 7 + ESTIMATE),
        (RESULTS, {"status__exact": "SUCCESSFUL", "queue": "slow", "p": "2"}, 7),
        (RESULTS, {"q": "NoopJob"}, 8),
        (REQUESTS, {}, 6 + ESTIMATE),
        (REQUESTS, {"queue": "slow", "job_class": "tests.jobs.NoopJob", "p": "2"}, 6),
        (REQUESTS, {"q": "NoopJob"}, 7),
    ],
    ids=[
        "results",
        "results-filtered-page-2",
        "results-search",
        "requests",
        "requests-page-2",
        "requests-search",
    ],
)
def test_a_list_of_many_pages_makes_a_constant_number_of_queries(
    admin_client, django_assert_max_num_queries, url, params, most
):
    if url == RESULTS:
        results(150, queue="slow")
    else:
        JobRequest.objects.bulk_create([JobRequest(**fields(queue="slow")) for _ in range(150)])
    admin_client.get(url)  # sessions and the user warmed, as on any page after the first
    with django_assert_max_num_queries(most):
        page = admin_client.get(url, params)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 150
    assert len(page.context["cl"].result_list) == 50  # pages of 50
