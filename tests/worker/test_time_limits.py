"""Time limits on each pool, against real worker subprocesses.

prefork enforces a job's `timeout` (tests/worker/test_faults.py) and the worker-wide
`--soft-time-limit`; gevent enforces the hard limit only; solo and threads cannot: they say so
at start, and a job that overruns its timeout there is recorded as timed out, with what it
returned and why it was not stopped.
"""

from __future__ import annotations

import pytest

from django_jobkit.models import JobResult
from tests.jobs import IgnoresSoftLimitJob, NoopJob, SlowJob

pytestmark = [pytest.mark.worker, pytest.mark.slow]

S = JobResult.Status
WARNING = "pool cannot enforce time limits"


@pytest.mark.parametrize("pool", ["solo", "threads"])
def test_a_pool_that_cannot_stop_jobs_says_so_and_records_an_overrun_as_timed_out(
    start_worker_process, pool
):
    worker = start_worker_process(pool=pool)
    # One line (the example project's logging prints each jobkit line twice: its own handler
    # and Celery's, with its prefix).
    warnings = {
        line.rsplit("] ", 1)[-1] for line in worker.output().splitlines() if WARNING in line
    }
    assert len(warnings) == 1, worker.output()
    warning = warnings.pop()
    assert warning.startswith(f"The {pool} pool cannot enforce time limits")
    assert "jobs with a timeout" in warning and "recorded ERRORED (timed out)" in warning

    result = SlowJob(3).run_in_worker(timeout=1).wait(timeout=30)
    assert result.status == S.ERRORED
    assert result.error.startswith("timed out after 1 s: it ran 3.")
    assert f"the {pool} pool cannot stop a job at its time limit" in result.error
    assert result.return_value == 3  # what the job returned is kept
    assert result.duration >= 3

    # Within its timeout a job succeeds as anywhere else.
    quick = NoopJob("in time").run_in_worker().wait(timeout=30)
    assert (quick.status, quick.return_value) == (S.SUCCESSFUL, "in time")


def test_prefork_says_nothing_at_start_and_a_worker_wide_limit_records_its_seconds(
    start_worker_process,
):
    worker = start_worker_process(args=["--soft-time-limit", "2", "--time-limit", "4"])
    assert WARNING not in worker.output()
    assert "enforces only hard time limits" not in worker.output()
    result = SlowJob(6).run_in_worker().wait(timeout=30)  # no timeout of its own
    assert result.status == S.ERRORED
    assert result.error == "timed out after 2 s"
    assert result.duration < 5


def test_a_worker_wide_hard_limit_records_a_killed_job_as_timed_out_not_lost(
    start_worker_process,
):
    start_worker_process(args=["--soft-time-limit", "1", "--time-limit", "3"])
    request = IgnoresSoftLimitJob(timeout=None).run_in_worker(retries=1)
    result = request.wait(timeout=30, follow_retries=False)
    assert result.status == S.ERRORED, result.error
    assert result.error == "timed out after 1 s"
    assert result.duration < 10  # killed at the hard limit, not after its own 30 s


def test_gevent_says_it_enforces_only_hard_limits_and_stops_a_job_at_its_hard_limit(
    start_worker_process,
):
    worker = start_worker_process(pool="gevent", concurrency=2)  # gevent: a test dependency
    assert "The gevent pool enforces only hard time limits" in worker.output()
    # The hard limit is timeout + JOBKIT_TIMEOUT_GRACE (2 s in the tests); gevent raises it
    # at the job's next cooperative switch (time.sleep is patched by the gevent pool).
    result = SlowJob(20).run_in_worker(timeout=1).wait(timeout=30)
    assert result.status == S.ERRORED
    assert result.error.startswith("timed out after 1 s"), result.error
    assert result.duration < 10
    quick = NoopJob("in time").run_in_worker().wait(timeout=30)
    assert (quick.status, quick.return_value) == (S.SUCCESSFUL, "in time")
