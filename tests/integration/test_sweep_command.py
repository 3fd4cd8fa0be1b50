"""`manage.py jobkit sweep` runs the sweeper; migrate installs the periodic sweep for beat."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from django_jobkit.execution.sweeper import SWEEP_TASK_NAME, install_periodic_sweep
from django_jobkit.models import JobRequest
from tests.jobs import NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_sweep_command_sends_unsent_requests():
    request = NoopJob().run_in_worker()
    JobRequest.objects.filter(pk=request.pk).update(sent_at=None)
    out = StringIO()
    call_command("jobkit", "sweep", stdout=out)
    assert "sent 1" in out.getvalue()
    assert JobRequest.objects.get(pk=request.pk).sent_at is not None


def test_the_periodic_sweep_is_installed_and_a_pause_is_kept():
    install_periodic_sweep()  # what post_migrate does (the test database was just migrated)
    task = PeriodicTask.objects.get(name=SWEEP_TASK_NAME)
    assert task.task == "django_jobkit.sweep"
    assert task.interval.every == 1 and task.expire_seconds == 1  # tests sweep every second
    assert task.queue == "default"  # jobkit's own queue, not Celery's default one
    task.enabled = False
    task.save()
    install_periodic_sweep()
    assert PeriodicTask.objects.get(name=SWEEP_TASK_NAME).enabled is False
    assert PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).count() == 1
