"""Raw Celery with no result backend: the floor. No Django anywhere in its worker.

celery -A bench.celery_raw worker ...      (CELERY_BROKER_URL from the environment)
"""

from __future__ import annotations

import os

from celery import Celery

from bench import peer_tasks, probe
from bench.common import peer_celery_conf

# fixups=[]: even with DJANGO_SETTINGS_MODULE in the environment, Django stays out.
app = Celery("bench_raw", fixups=[])
app.conf.update(peer_celery_conf(os.environ["CELERY_BROKER_URL"]))
noop, latency = peer_tasks.define(app)


@app.task(name="bench.mark")
def mark(tag: str) -> None:
    """Tells the benchmark when it ran: the first and last message of a drain are marks."""
    probe.mark(tag)


probe.install()
