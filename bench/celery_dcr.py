"""Raw Celery storing results with django-celery-results, on a minimal Django project.

    DJANGO_SETTINGS_MODULE=bench.settings_celery celery -A bench.celery_dcr worker ...

Celery's Django fix-up is active, as in any Celery + Django project: as shipped it closes the
database connection before and after every task; with BENCH_DB_REUSE_MAX set (the settings
module turns it into CELERY_DB_REUSE_MAX) connections are kept.
"""

from __future__ import annotations

import os

from celery import Celery

from bench import peer_tasks, probe

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_celery")

app = Celery("bench_dcr")
app.config_from_object("django.conf:settings", namespace="CELERY")
noop, latency = peer_tasks.define(app)


probe.install()
