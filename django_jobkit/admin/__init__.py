"""Admin pages for the records; rows are written by the engine, so they are read-only here.

One module per page (`requests`, `processes`, `results`, `workers`), built from shared pieces:
how values are written (`display`, `json_view`), the fields every job record has
(`job_fields`), the retry chain and the schedule that fired a job (`chain`), the results
list's filters and bounded search (`filters`, `search`). Waiting and running jobs are
cancelled rather than deleted, and live workers' rows are kept (`cancelling`); failed jobs
are retried and delayed ones run now by actions (`actions`), each behind its own permission
(`permissions`) and written to the admin's history (`history`); running jobs show live
progress bars (`progress`); queues are paused and resumed (`queues`); batches show their
children (`batches`); the dashboard sums it all up on one page (`dashboard`, `chart`);
django-celery-beat's periodic task form leaves out the job tasks, which cannot be scheduled
by themselves (`periodic_tasks`).
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin

from .batches import JobBatchAdmin
from .processes import JobProcessAdmin
from .queues import JobQueueAdmin
from .requests import JobRequestAdmin
from .results import JobResultAdmin
from .workers import JobWorkerAdmin

if apps.is_installed("django_celery_beat"):
    from . import periodic_tasks

    periodic_tasks.install(admin.site)

__all__ = [
    "JobBatchAdmin",
    "JobProcessAdmin",
    "JobQueueAdmin",
    "JobRequestAdmin",
    "JobResultAdmin",
    "JobWorkerAdmin",
]
