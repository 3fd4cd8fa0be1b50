"""bulk_run_in_worker: one transaction, one INSERT for keyless jobs, all-or-nothing checks.

(60 jobs: SQLite caps a statement at 999 parameters, so larger batches take several.)
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_jobkit import bulk_run_in_worker
from django_jobkit.exceptions import InvalidJobParameter
from django_jobkit.models import JobRequest
from tests.jobs import EchoJob, NoopJob, RecordStartJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_keyless_jobs_are_inserted_with_one_statement():
    with CaptureQueriesContext(connection) as queries:
        requests = bulk_run_in_worker([NoopJob(i) for i in range(60)], priority=3)
    sql = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    inserts = [s for s in sql if s.startswith("INSERT")]
    assert len(inserts) == 1
    assert JobRequest.objects.count() == 60
    assert {r.priority for r in JobRequest.objects.all()} == {3}
    assert len({r.job_request_uuid for r in requests}) == 60


def test_keyed_jobs_are_still_deduplicated():
    NoopJob(key="a").run_in_worker()
    requests = bulk_run_in_worker(
        [NoopJob(key="a"), NoopJob(key="b"), NoopJob(key="b"), NoopJob(1), NoopJob(2)]
    )
    assert [r is not None for r in requests] == [False, True, False, True, True]
    assert JobRequest.objects.count() == 4


def test_one_bad_argument_refuses_the_whole_batch():
    with pytest.raises(InvalidJobParameter, match="'args\\[0\\]'"):
        bulk_run_in_worker([EchoJob(1), EchoJob(object())])
    assert not JobRequest.objects.exists()


def stored_as_built(requests: list[JobRequest]) -> None:
    """Every column of every row is what the request objects say (and their pks match)."""
    names = [f.attname for f in JobRequest._meta.concrete_fields]
    rows = {r.job_request_uuid: r for r in JobRequest.objects.all()}
    assert len(rows) == len(requests)
    for request in requests:
        row = rows[request.job_request_uuid]
        assert {n: getattr(row, n) for n in names} == {n: getattr(request, n) for n in names}


def test_a_mixed_batch_stores_each_row_as_built():
    """Columns equal across the batch, equal to another column, or differing per row."""
    jobs = [
        NoopJob(1),
        NoopJob({"a": [1, 2]}, queue="other"),
        EchoJob("x", flag=True),
        RecordStartJob("tag", priority=5),
        NoopJob(2),
    ]
    stored_as_built(bulk_run_in_worker(jobs))


def test_a_uniform_batch_and_a_single_job():
    stored_as_built(bulk_run_in_worker([NoopJob() for _ in range(5)], delay=3600, retries=2))
    JobRequest.objects.all().delete()
    stored_as_built(bulk_run_in_worker([NoopJob("alone")], timeout=30))
