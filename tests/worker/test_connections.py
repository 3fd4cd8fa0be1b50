"""Workers keep their database connection between jobs, unlike a stock Celery worker."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.jobs import ConnectionIdJob

pytestmark = pytest.mark.worker


@pytest.mark.skipif(
    connection.vendor not in ("postgresql", "mysql"), reason="needs a server-side connection id"
)
@pytest.mark.parametrize(("keep", "same"), [(None, True), ("0", False)])
def test_connection_is_kept_between_jobs_unless_told_otherwise(start_worker_process, keep, same):
    env = {"JOBKIT_KEEP_DB_CONNECTIONS": keep} if keep else {}
    start_worker_process(concurrency=1, env=env)
    ids = [tuple(ConnectionIdJob().run_in_worker().wait(30).return_value) for _ in range(3)]
    assert len({pid for pid, _ in ids}) == 1  # one child ran them all
    assert (len({conn for _, conn in ids}) == 1) is same, ids
