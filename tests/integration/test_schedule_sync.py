"""Schedules synced into django-celery-beat: created, idempotent, updated, disabled; user rows
and a pause made in beat's admin are left alone."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import (
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from django_jobkit import Schedule
from django_jobkit.models import JobResult
from django_jobkit.scheduling.beat import FIRE_TASK, managed_rows, sync_schedules
from django_jobkit.scheduling.entries import ScheduledJob, scheduled_jobs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_managed_rows():
    """Start without the rows `migrate` synced for the project's own schedules."""
    managed_rows().delete()


def entry(expression: str, tz: str = "Europe/Paris", key: str = "", **options) -> ScheduledJob:
    name = "tests.jobs.ReportJob"
    return ScheduledJob(
        name=f"{name}[{key}]" if key else name,
        job_name=name,
        schedule=Schedule.from_cron(expression, tz),
        key=key,
        **options,
    )


def row(name: str = "django-jobkit: tests.jobs.ReportJob") -> PeriodicTask:
    return PeriodicTask.objects.select_related("crontab").get(name=name)


def snapshot() -> list[tuple]:
    """Every periodic task and crontab, field by field, to show what a sync did not change."""
    tasks = list(PeriodicTask.objects.order_by("pk").values_list())
    crontabs = list(CrontabSchedule.objects.order_by("pk").values_list())
    return [*tasks, *crontabs, PeriodicTasks.last_change()]


def test_a_schedule_becomes_a_managed_periodic_task_with_a_crontab_in_its_zone():
    report = sync_schedules([entry("0 9 * * mon-fri")])
    assert report.created == ["django-jobkit: tests.jobs.ReportJob"]
    task = row()
    assert task.task == FIRE_TASK
    assert task.enabled
    assert task.queue == "default"
    assert json.loads(task.kwargs) == {
        "schedule": "tests.jobs.ReportJob",
        "expression": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
    }
    assert task.description.startswith("Managed by django-jobkit")
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month) == ("0", "9", "*")
    assert (crontab.month_of_year, crontab.day_of_week) == ("*", "1-5")
    assert str(crontab.timezone) == "Europe/Paris"


def test_syncing_twice_changes_nothing():
    entries = [entry("0 9 * * *"), entry("*/5 * * * *", key="eu"), entry("0 0 13 * fri", key="x")]
    first = sync_schedules(entries)
    assert len(first.created) == 4  # the last one needs two rows
    before = snapshot()
    second = sync_schedules(entries)
    assert not second.changed
    assert second.lines() == []
    assert snapshot() == before


def test_a_changed_expression_or_zone_updates_the_row():
    sync_schedules([entry("0 9 * * *")])
    created = row()
    report = sync_schedules([entry("30 17 * * *", tz="America/New_York")])
    assert report.updated == [created.name]
    task = row()
    assert task.pk == created.pk
    assert (task.crontab.minute, task.crontab.hour) == ("30", "17")
    assert str(task.crontab.timezone) == "America/New_York"
    assert json.loads(task.kwargs)["expression"] == "30 17 * * *"


def test_changing_the_schedule_queue_setting_updates_the_row():
    sync_schedules([entry("0 9 * * *")])
    with override_settings(JOBKIT_SCHEDULE_QUEUE="cron"):
        assert sync_schedules([entry("0 9 * * *")]).updated
    assert row().queue == "cron"


def test_a_removed_schedule_disables_its_row_and_a_return_enables_it_again():
    sync_schedules([entry("0 9 * * *")])
    report = sync_schedules([])
    assert report.disabled == ["django-jobkit: tests.jobs.ReportJob"]
    assert not row().enabled
    assert row().description.startswith("Removed from the code")
    assert not sync_schedules([]).changed  # disabling is idempotent too
    report = sync_schedules([entry("0 9 * * *")])
    assert report.enabled == ["django-jobkit: tests.jobs.ReportJob"]
    assert row().enabled
    assert row().description.startswith("Managed by django-jobkit")


def test_a_pause_made_in_the_admin_survives_syncs_and_expression_changes():
    sync_schedules([entry("0 9 * * *")])
    task = row()
    task.enabled = False  # what unticking "Enabled" in beat's admin does
    task.save()
    report = sync_schedules([entry("0 9 * * *")])
    assert report.paused == [task.name]
    assert not report.changed
    report = sync_schedules([entry("0 10 * * *")])
    assert report.updated == [task.name]
    assert report.paused == [task.name]
    assert not row().enabled
    assert row().crontab.hour == "10"
    assert "left paused (paused in the admin): 'django-jobkit: tests.jobs.ReportJob'" in (
        report.lines()
    )


def test_a_paused_schedule_removed_and_brought_back_is_still_paused():
    sync_schedules([entry("0 9 * * *")])
    task = row()
    task.enabled = False
    task.save()
    assert sync_schedules([]).disabled == [task.name]
    report = sync_schedules([entry("0 9 * * *")])
    assert report.enabled == []
    assert report.paused == [task.name]
    assert not row().enabled


def test_rows_jobkit_does_not_manage_are_never_touched():
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    shared = CrontabSchedule.objects.create(minute="0", hour="9", timezone="Europe/Paris")
    PeriodicTask.objects.create(name="nightly backup", task="ops.backup", crontab=shared)
    PeriodicTask.objects.create(
        name="jobkit: looks like ours", task="ops.other", interval=every_minute
    )
    PeriodicTask.objects.create(
        name="django-jobkit: tests.jobs.ReportJob[taken]", task="ops.mine", crontab=shared
    )
    PeriodicTask.objects.create(
        name="django-jobkit: someone else's", task="ops.theirs", crontab=shared, enabled=False
    )
    user_rows = list(PeriodicTask.objects.order_by("pk").values_list())
    report = sync_schedules([entry("0 9 * * *"), entry("0 10 * * *", key="taken")])
    assert report.conflicts == ["django-jobkit: tests.jobs.ReportJob[taken]"]
    assert report.created == ["django-jobkit: tests.jobs.ReportJob"]
    assert row().crontab == shared  # an identical crontab is shared, not copied
    sync_schedules([entry("0 11 * * *")])  # update and disable managed rows
    sync_schedules([])
    rows = {r[0]: r for r in PeriodicTask.objects.order_by("pk").values_list()}
    assert [rows[r[0]] for r in user_rows] == user_rows
    assert CrontabSchedule.objects.filter(pk=shared.pk, hour="9").exists()
    assert [t.name for t in managed_rows()] == ["django-jobkit: tests.jobs.ReportJob"]


def test_day_of_month_and_day_of_week_together_make_two_rows():
    report = sync_schedules([entry("0 8 1 * mon")])
    assert report.created == [
        "django-jobkit: tests.jobs.ReportJob [day of month]",
        "django-jobkit: tests.jobs.ReportJob [day of week]",
    ]
    dom = row("django-jobkit: tests.jobs.ReportJob [day of month]").crontab
    dow = row("django-jobkit: tests.jobs.ReportJob [day of week]").crontab
    assert (dom.day_of_month, dom.day_of_week) == ("1", "*")
    assert (dow.day_of_month, dow.day_of_week) == ("*", "1")
    # Back to a single day field: one row again.
    report = sync_schedules([entry("0 8 1 * *")])
    assert report.created == ["django-jobkit: tests.jobs.ReportJob"]
    assert sorted(report.disabled) == [
        "django-jobkit: tests.jobs.ReportJob [day of month]",
        "django-jobkit: tests.jobs.ReportJob [day of week]",
    ]


@pytest.mark.django_db(transaction=True)
def test_migrate_syncs_the_project_schedules():
    settings_schedule = [
        ("tests.jobs.ReportJob", "0 * * * *", {"kwargs": {"region": "us"}, "key": "us"})
    ]
    with override_settings(JOBKIT_SCHEDULE=settings_schedule):
        out = StringIO()
        call_command("migrate", verbosity=1, stdout=out)
        names = set(managed_rows().values_list("name", flat=True))
        assert "django-jobkit: tests.jobs.ReportJob[us]" in names
        assert "django-jobkit: example_project.demo.jobs.ClearExpiredSessionsJob" in names
        assert {e.name for e in scheduled_jobs()} <= {n.split(": ", 1)[1] for n in names}
        out = StringIO()
        call_command("migrate", verbosity=1, stdout=out)
        assert "jobkit schedules" not in out.getvalue()  # nothing left to change


def test_sync_schedules_command():
    out = StringIO()
    with override_settings(JOBKIT_SCHEDULE=[("tests.jobs.ReportJob", "15 6 * * *", {"key": "eu"})]):
        call_command("jobkit", "sync_schedules", stdout=out)
        assert "created: 'django-jobkit: tests.jobs.ReportJob[eu]'" in out.getvalue()
        out = StringIO()
        call_command("jobkit", "sync_schedules", "--database", "default", stdout=out)
    assert out.getvalue() == "Schedules are in sync.\n"


def test_schedules_command_lists_expression_zone_next_and_last_run():
    schedule = [
        (
            "tests.jobs.ReportJob",
            "0 9 * * mon-fri",
            {"tz": "Europe/Paris", "key": "eu", "catch_up": True},
        )
    ]
    with override_settings(JOBKIT_SCHEDULE=schedule):
        sync_schedules()
        (eu,) = [e for e in scheduled_jobs() if e.name == "tests.jobs.ReportJob[eu]"]
        ran_at = timezone.now() - timedelta(hours=1)
        JobResult.objects.create(
            job_class="tests.jobs.ReportJob",
            concurrency_key=eu.occurrence_key(ran_at),
            job_request_uuid="00000000-0000-0000-0000-000000000001",
            root_uuid="00000000-0000-0000-0000-000000000001",
            status=JobResult.Status.SUCCESSFUL,
            ended_at=ran_at,
        )
        task = row("django-jobkit: tests.jobs.ReportJob[eu]")
        task.enabled = False
        task.save()
        out = StringIO()
        call_command("jobkit", "schedules", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == [
        "SCHEDULE",
        "EXPRESSION",
        "TIME",
        "ZONE",
        *["NEXT", "RUN", "LAST", "RUN", "BEAT"],
    ]
    (line,) = [line for line in lines if line.startswith("tests.jobs.ReportJob[eu]")]
    next_run = eu.schedule.next_after(timezone.now()).strftime("%Y-%m-%d %H:%M %Z")
    assert "0 9 * * mon-fri (catch up)" in line
    assert "Europe/Paris" in line
    assert next_run in line
    assert (
        "SUCCESSFUL " + ran_at.astimezone(eu.schedule.timezone).strftime("%Y-%m-%d %H:%M") in line
    )
    assert line.endswith("paused")
    demo = [line for line in lines if line.startswith("example_project.demo")]
    assert demo and demo[0].split()[-2:] == ["never", "enabled"]
