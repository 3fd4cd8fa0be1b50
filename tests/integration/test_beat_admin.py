"""django-celery-beat's admin offers no job task to schedule, and check W008 warns about
periodic tasks that name one; `django_jobkit.enqueue` is the task to schedule instead."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from django_jobkit import checks
from django_jobkit.admin.periodic_tasks import JobkitPeriodicTaskAdmin
from django_jobkit.scheduling.beat import FIRE_TASK

pytestmark = pytest.mark.django_db(transaction=True)

ADD = reverse("admin:django_celery_beat_periodictask_add")


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


@pytest.fixture
def every_minute():
    return IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)


def form_data(task_field: str, task: str, interval: IntervalSchedule, **kwargs: str) -> dict:
    return {
        "name": "made in the admin",
        task_field: task,
        "enabled": "on",
        "interval": interval.pk,
        "args": "[]",
        "kwargs": "{}",
        "priority": "",
        "headers": "{}",
        **kwargs,
    }


def test_beat_admin_is_jobkits_and_its_task_choices_leave_out_the_job_tasks(admin_client):
    assert type(admin.site.get_model_admin(PeriodicTask)) is JobkitPeriodicTaskAdmin
    page = admin_client.get(ADD)
    assert page.status_code == 200
    choices = [
        value for value, _ in page.context["adminform"].form.fields["regtask"].widget.choices
    ]
    assert "django_jobkit.enqueue" in choices
    assert "django_jobkit.sweep" in choices
    assert not any(name.startswith("tests.jobs.") for name in choices), choices
    assert "tests.jobs.OldNameJob" not in choices  # aliases are job tasks too
    body = page.content.decode()
    assert 'value="django_jobkit.enqueue"' in body
    assert 'value="tests.jobs.ReportJob"' not in body


def test_a_job_task_typed_by_hand_is_refused_and_the_enqueue_task_is_saved(
    admin_client, every_minute
):
    page = admin_client.post(ADD, form_data("task", "tests.jobs.ReportJob", every_minute))
    assert page.status_code == 200  # the form again, with the error
    errors = page.context["adminform"].form.errors["task"]
    assert "tests.jobs.ReportJob is a job's own task" in errors[0]
    assert "django_jobkit.enqueue" in errors[0]
    assert not PeriodicTask.objects.filter(name="made in the admin").exists()

    kwargs = json.dumps({"job": "tests.jobs.ReportJob", "kwargs": {"region": "eu"}})
    saved = admin_client.post(
        ADD, form_data("regtask", "django_jobkit.enqueue", every_minute, kwargs=kwargs)
    )
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    row = PeriodicTask.objects.get(name="made in the admin")
    assert (row.task, json.loads(row.kwargs)["job"]) == (
        "django_jobkit.enqueue",
        "tests.jobs.ReportJob",
    )


def test_w008_warns_about_periodic_tasks_that_name_a_job_task(every_minute):
    assert checks.check_periodic_job_tasks(databases=["default"]) == []
    PeriodicTask.objects.create(name="by hand", task="tests.jobs.ReportJob", interval=every_minute)
    PeriodicTask.objects.create(
        name="old name", task="tests.jobs.OldNameJob", interval=every_minute, enabled=False
    )
    PeriodicTask.objects.create(
        name="fine", task="django_jobkit.enqueue", interval=every_minute, kwargs="{}"
    )
    PeriodicTask.objects.create(name="django-jobkit: x", task=FIRE_TASK, interval=every_minute)
    messages = checks.check_periodic_job_tasks(databases=["default"])
    assert [(m.id, m.obj) for m in messages] == [("django_jobkit.W008", "by hand")]
    assert "'tests.jobs.ReportJob', a job's own task" in messages[0].msg
    assert '"job": "tests.jobs.ReportJob"' in messages[0].hint
    # Not a database check run: nothing is read.
    assert checks.check_periodic_job_tasks(databases=None) == []


def test_manage_py_check_with_the_database_shows_w008(every_minute, capsys):
    PeriodicTask.objects.create(name="by hand", task="tests.jobs.ReportJob", interval=every_minute)
    call_command("check", "--database", "default")
    assert "django_jobkit.W008" in capsys.readouterr().err
