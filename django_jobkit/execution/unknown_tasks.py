"""A message for a job class this worker does not know is recorded ERRORED at once.

Celery rejects a message whose task it does not have (a job class renamed or removed, or a
worker running older code) and sends `task_unknown` from the worker's main process. Left
there, the request would wait until the sweeper re-sent it after `JOBKIT_RESEND_AFTER`, only
for the same to happen again; here its request is replaced by an ERRORED result saying which
class is unknown, not retried (the same message would fail the same way).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery.signals import task_unknown
from django.db import close_old_connections, transaction

from .. import hooks
from ..models import JobRequest, JobResult
from .sweeper import unknown_class_error

logger = logging.getLogger("django_jobkit.worker")


def record_unknown(request_uuid: uuid.UUID, task_name: str) -> JobResult | None:
    """ERRORED for the waiting request, if its class is unknown here; None otherwise."""
    with transaction.atomic(using=JobRequest.objects.primary_alias()):
        request = JobRequest.objects.locked(request_uuid)
        if request is None:
            return None
        error = unknown_class_error(request)
        if not error:
            return None  # this worker knows the class after all: leave the request be
        result = JobRequest.objects.end(request, JobResult.Status.ERRORED, error)
    logger.error("%s (request %s, task %s): recorded ERRORED", error, request_uuid, task_name)
    hooks.notify(result)
    return result


@task_unknown.connect
def _on_unknown_task(name: str | None = None, id: str | None = None, **kwargs: Any) -> None:
    try:
        request_uuid = uuid.UUID(str(id))
    except ValueError:
        return  # not a jobkit message
    try:
        close_old_connections()
        record_unknown(request_uuid, name or "")
    except Exception:
        logger.exception("could not record the unknown job class of request %s", id)
