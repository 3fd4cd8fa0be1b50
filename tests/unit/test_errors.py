"""Every error jobkit raises is a `JobkitError` and also the builtin it means."""

from __future__ import annotations

import inspect

import pytest

from django_jobkit import Job, Schedule, exceptions, register_job, registry
from django_jobkit.enqueue.service import start_time
from django_jobkit.exceptions import (
    DeferJob,
    InvalidJobClass,
    InvalidJobOption,
    InvalidJobOptionType,
    InvalidSchedule,
    JobkitError,
    JobNameTaken,
)


def test_every_exception_of_the_package_derives_from_jobkit_error_and_a_builtin():
    errors = [
        cls
        for _, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__
    ]
    assert len(errors) >= 10
    for cls in errors:
        if cls in (JobkitError, DeferJob) or issubclass(cls, Warning):
            continue
        assert issubclass(cls, JobkitError), cls
        builtins = [b for b in cls.__mro__ if b.__module__ == "builtins" and b is not Exception]
        assert builtins[0] not in (BaseException, object), cls
    # DeferJob is a job's request to run later, not an error: `except JobkitError` keeps out.
    assert not issubclass(DeferJob, JobkitError)


def test_an_option_of_the_wrong_type_is_an_invalid_job_option_and_a_type_error():
    with pytest.raises(InvalidJobOptionType, match="'60' has type str") as caught:
        start_time("60")
    assert isinstance(caught.value, InvalidJobOption)
    assert isinstance(caught.value, TypeError)


def test_register_job_refuses_what_is_not_a_job_with_run():
    with pytest.raises(InvalidJobClass, match="expects a Job subclass"):
        register_job(object)  # type: ignore[arg-type]

    class NoRun(Job):
        pass

    with pytest.raises(InvalidJobClass, match="must define run"):
        register_job(NoRun)


def test_a_name_already_taken_by_another_class_is_refused():
    class Other(Job):
        def run(self) -> None: ...

    # The check comes before anything is stored, so the registry is left as it was.
    with pytest.raises(JobNameTaken, match=r"'tests\.jobs\.NoopJob' is already used"):
        registry.add(Other, ["tests.jobs.NoopJob"])
    assert registry.job_class_for("tests.jobs.NoopJob").__name__ == "NoopJob"


def test_an_invalid_cron_expression_is_an_invalid_schedule_and_a_value_error():
    with pytest.raises(InvalidSchedule) as caught:
        Schedule.from_cron("61 * * * *")
    assert isinstance(caught.value, JobkitError)
    assert isinstance(caught.value, ValueError)
