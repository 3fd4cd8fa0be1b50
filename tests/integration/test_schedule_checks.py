"""System checks of schedules: one test per id, and `manage.py check` fails on them."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_jobkit import Schedule, checks
from example_project.demo.jobs import SendWelcomeEmailJob
from tests.jobs import NoopJob


def ids(messages) -> list[str]:
    return [m.id for m in messages]


def schedule_check(schedule: list) -> list:
    with override_settings(JOBKIT_SCHEDULE=schedule):
        return checks.check_schedules()


def test_the_project_schedules_pass():
    assert checks.check_schedules() == []
    assert schedule_check([("tests.jobs.ReportJob", "@hourly", {"kwargs": {"region": "x"}})]) == []


def test_e010_invalid_expression_or_zone_in_jobkit_schedule():
    (error,) = schedule_check([("tests.jobs.ReportJob", "0 9 * * * *")])
    assert error.id == "django_jobkit.E010"
    assert "JOBKIT_SCHEDULE[0]: tests.jobs.ReportJob" in error.msg
    assert "'0 9 * * * *'" in error.msg
    (error,) = schedule_check([("tests.jobs.ReportJob", "0 9 * * *", {"tz": "Nowhere/City"})])
    assert error.id == "django_jobkit.E010"
    assert "Nowhere/City" in error.msg


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("tests.jobs.ReportJob", "is not a (job, expression[, options]) tuple"),
        (("tests.jobs.ReportJob", "@daily", {"kwarg": {}}), "unknown option(s) kwarg"),
        (("tests.jobs.NoSuchJob", "@daily"), "'tests.jobs.NoSuchJob' is not a registered job"),
        (("tests.jobs.ReportJob", "@daily", {"kwargs": {"city": "x"}}), "cannot be built"),
        (("tests.jobs.ReportJob", "@daily", {"kwargs": {"region": object()}}), "cannot be used"),
        (("tests.jobs.ReportJob", "@daily", {"queue": 5}), "queue=5 is not a str"),
        (("tests.jobs.ReportJob", "@daily", {"key": "k" * 300}), "is longer than"),
    ],
)
def test_e011_malformed_entries(entry, words):
    (error,) = schedule_check([entry])
    assert error.id == "django_jobkit.E011"
    assert words in error.msg


def test_e012_a_schedule_attribute_that_is_not_a_schedule(monkeypatch):
    monkeypatch.setattr(NoopJob, "schedule", "0 9 * * *", raising=False)
    (error,) = checks.check_schedules()
    assert error.id == "django_jobkit.E012"
    assert "tests.jobs.NoopJob.schedule is '0 9 * * *', not a Schedule" in error.msg


def test_e012_a_scheduled_job_that_needs_arguments(monkeypatch):
    monkeypatch.setattr(SendWelcomeEmailJob, "schedule", Schedule.from_cron("@daily"))
    (error,) = checks.check_schedules()
    assert error.id == "django_jobkit.E012"
    assert "cannot be built without arguments" in error.msg


def test_e013_two_schedules_with_the_same_key():
    schedule = [
        ("tests.jobs.ReportJob", "@daily", {"kwargs": {"region": "eu"}}),
        ("tests.jobs.ReportJob", "@hourly", {"kwargs": {"region": "us"}}),
    ]
    (error,) = schedule_check(schedule)
    assert error.id == "django_jobkit.E013"
    schedule[1][2]["key"] = "us"
    assert schedule_check(schedule) == []


def test_e014_django_celery_beat_version():
    assert ids(checks.beat_version_errors("2.8.0")) == ["django_jobkit.E014"]
    assert ids(checks.beat_version_errors("2.7.1")) == ["django_jobkit.E014"]
    assert checks.beat_version_errors("2.9.0") == []
    assert checks.beat_version_errors("3.0") == []
    assert checks.check_beat_version() == []  # the installed one


def test_w006_beat_ignoring_time_zones():
    assert checks.check_beat_tz_aware() == []
    with override_settings(DJANGO_CELERY_BEAT_TZ_AWARE=False):
        assert ids(checks.check_beat_tz_aware()) == ["django_jobkit.W006"]


def test_manage_py_check_fails_on_an_invalid_schedule():
    with (
        override_settings(JOBKIT_SCHEDULE=[("tests.jobs.ReportJob", "61 * * * *")]),
        pytest.raises(SystemCheckError, match=r"django_jobkit\.E010.*'61 \* \* \* \*'"),
    ):
        call_command("check")
