"""A daily schedule whose hour is far from the hour beat started still fires (beat#956).

django-celery-beat 2.8 loads only crontabs whose hour is within two hours of "now" into its
schedule; 2.8.0 computed that window once, at start, so a 17:00 job in a beat started at
05:00 never ran. Here a real `DatabaseScheduler` runs through a whole day on a controlled
clock, ticking once a minute like beat does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from celery.signals import after_task_publish
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from django_jobkit.scheduling.beat import FIRE_TASK, sync_schedules

pytestmark = pytest.mark.django_db(transaction=True)

ROW = "django-jobkit: tests.jobs.ReportJob[far]"


def test_a_daily_schedule_twelve_hours_away_fires_at_its_time(celery_app, unique_queue):
    published: list[tuple[datetime, dict]] = []

    def record(sender=None, body=None, **kwargs):
        if sender == FIRE_TASK:
            published.append((timezone.now(), body[1]))

    after_task_publish.connect(record, weak=False)
    schedule = [("tests.jobs.ReportJob", "0 17 * * *", {"tz": "UTC", "key": "far"})]
    start = datetime(2025, 6, 2, 5, 0, 0, 500_000, tzinfo=UTC)
    try:
        with (
            override_settings(JOBKIT_SCHEDULE=schedule, JOBKIT_SCHEDULE_QUEUE=unique_queue),
            time_machine.travel(start, tick=True) as clock,
        ):
            PeriodicTask.objects.all().delete()  # only this schedule: nothing else falls due
            sync_schedules()
            scheduler = DatabaseScheduler(app=celery_app)  # beat starts at 05:00
            for minute in range(12 * 60 + 10):  # ... and ticks every minute until 17:10
                clock.move_to(start + timedelta(minutes=minute))
                scheduler.tick()
            scheduler.sync()
    finally:
        after_task_publish.disconnect(record)
    assert len(published) == 1
    fired_at, kwargs = published[0]
    assert (
        datetime(2025, 6, 2, 17, 0, tzinfo=UTC)
        <= fired_at
        < datetime(2025, 6, 2, 17, 1, tzinfo=UTC)
    )
    assert kwargs["schedule"] == "tests.jobs.ReportJob[far]"
    row = PeriodicTask.objects.get(name=ROW)
    assert row.total_run_count == 1
    assert abs(row.last_run_at - fired_at) < timedelta(seconds=1)
