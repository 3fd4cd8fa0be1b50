"""Sending a committed request to the broker: the only place jobkit publishes a message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils import timezone

from . import registry, routing

if TYPE_CHECKING:
    from .models import JobRequest

logger = logging.getLogger("django_jobkit.dispatch")


def send(request: JobRequest) -> bool:
    """Publish "go look at request X"; never raises into the caller's view.

    The row is already committed, so a broker outage costs a delay, not the job: the error is
    logged and the request stays in the database for the sweeper to send again.
    """
    options = routing.route(request.queue, request.priority)
    if request.start_at is not None and request.start_at > timezone.now():
        options["eta"] = request.start_at
    try:
        registry.task_for(request.job_class).apply_async(
            args=[str(request.job_request_uuid)],
            task_id=str(request.job_request_uuid),
            **options,
        )
    except Exception:
        logger.warning(
            "could not send %s %s to the broker; it stays in the database and will be sent again",
            request.job_class,
            request.job_request_uuid,
            exc_info=True,
        )
        return False
    return True
