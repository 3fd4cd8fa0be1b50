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
from tests.jobs import EchoJob, NoopJob

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
