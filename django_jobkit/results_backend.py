"""A Celery result backend that answers for jobkit's jobs from jobkit's own rows.

jobkit's tasks store nothing in Celery's result backend (their results are `JobResult` rows),
so with django-celery-results alone `AsyncResult(<request uuid>)` stays PENDING for ever.
This backend is django-celery-results' database backend with one difference: a task id that
is a jobkit request uuid is answered from the request, process and result rows (see
`execution.celery_state.task_meta` for the mapping); every other task id, and every write,
goes to django-celery-results as before.

    CELERY_RESULT_BACKEND = "django_jobkit.results_backend.JobkitBackend"

Celery loads its result backend as soon as a command needs one, which for `celery call` or
`celery result` is before anything set Django up (django-celery-results' own "django-db"
fails there with AppRegistryNotReady). Loading this module sets Django up then, as Celery's
Django fix-up does in a worker.
"""

from __future__ import annotations

from typing import Any

import django
from django.apps import apps

if not apps.ready and not apps.loading:
    django.setup()

from django_celery_results.backends.database import DatabaseBackend

from .execution.celery_state import task_meta


class JobkitBackend(DatabaseBackend):  # type: ignore[misc]
    def _get_task_meta_for(self, task_id: str) -> Any:
        meta = task_meta(task_id)
        if meta is None:
            return super()._get_task_meta_for(task_id)
        return self.meta_from_decoded(meta)
