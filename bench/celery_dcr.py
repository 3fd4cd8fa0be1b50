"""Raw Celery storing results with django-celery-results, on a minimal Django project.

    DJANGO_SETTINGS_MODULE=bench.settings_celery celery -A bench.celery_dcr worker ...

Celery's Django fix-up is active, as in any Celery + Django project: as shipped it closes the
database connection before and after every task; with BENCH_DB_REUSE_MAX set (the settings
module turns it into CELERY_DB_REUSE_MAX) connections are kept.
"""

from __future__ import annotations

import os
import time

from celery import Celery

from bench import probe

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_celery")

app = Celery("bench_dcr")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="bench.noop")
def noop() -> None:
    return None


@app.task(name="bench.latency")
def latency() -> None:
    probe.started = time.time()


probe.install()
