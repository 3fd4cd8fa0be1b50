"""Which pools enforce time limits, and what a worker that cannot says at start."""

from __future__ import annotations

from celery.concurrency import get_implementation

from django_jobkit.execution import timelimits
from django_jobkit.execution.timelimits import FULL, HARD_ONLY, NONE, WorkerLimits


def test_only_prefork_enforces_both_limits_and_gevent_the_hard_one():
    assert timelimits.pool_enforcement(get_implementation("prefork")) == FULL
    assert timelimits.pool_enforcement(get_implementation("solo")) == NONE
    assert timelimits.pool_enforcement(get_implementation("threads")) == NONE
    gevent = type("TaskPool", (), {"__module__": "celery.concurrency.gevent"})
    assert timelimits.pool_enforcement(gevent) == HARD_ONLY
    eventlet = type("TaskPool", (), {"__module__": "celery.concurrency.eventlet"})
    assert timelimits.pool_enforcement(eventlet) == NONE


def test_pools_are_named_by_their_alias():
    assert timelimits.pool_name(get_implementation("threads")) == "threads"
    assert timelimits.pool_name(get_implementation("solo")) == "solo"


def test_the_start_warning_names_the_pool_and_what_happens_to_timeout_jobs():
    assert timelimits.start_warning(None) == ""
    assert timelimits.start_warning(WorkerLimits("prefork", FULL)) == ""
    line = timelimits.start_warning(WorkerLimits("solo", NONE))
    assert line.startswith("The solo pool cannot enforce time limits")
    assert "recorded ERRORED (timed out)" in line and "\n" not in line
    hard = timelimits.start_warning(WorkerLimits("gevent", HARD_ONLY))
    assert hard.startswith("The gevent pool enforces only hard time limits")


def test_an_overrun_is_reported_only_past_the_limit():
    assert timelimits.overrun(None, 100) == ""
    assert timelimits.overrun(2, 1.5) == ""
    message = timelimits.overrun(2, 6.04)
    assert message.startswith("timed out after 2 s: it ran 6.0 s to its end")


def test_limits_read_as_given():
    assert timelimits.timed_out_message(2.0) == "timed out after 2 s"
    assert timelimits.timed_out_message(2.5) == "timed out after 2.5 s"
    assert timelimits.timed_out_message(None) == "timed out"
