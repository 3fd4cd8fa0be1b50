"""Sending a committed request to the broker: the only place jobkit publishes a message."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from . import registry, routing
from .conf import jobkit_settings

if TYPE_CHECKING:
    from .models import JobRequest

logger = logging.getLogger("django_jobkit.dispatch")


def publish_options(request: JobRequest) -> dict[str, Any]:
    """Queue, priority, ETA and time limits of the request's message."""
    options = routing.route(request.queue, request.priority)
    if request.start_at is not None and request.start_at > timezone.now():
        options["eta"] = request.start_at
    if request.timeout:
        options["soft_time_limit"] = request.timeout
        options["time_limit"] = request.timeout + jobkit_settings.TIMEOUT_GRACE
    return options


def send(request: JobRequest) -> bool:
    """Publish "go look at request X"; never raises into the caller's view.

    The row is already committed, so a broker outage costs a delay, not the job: the error is
    logged, the request is marked unsent, and the sweeper sends it again once the broker is back.
    """
    try:
        registry.task_for(request.job_class).apply_async(
            args=[str(request.job_request_uuid)],
            task_id=str(request.job_request_uuid),
            **publish_options(request),
        )
    except Exception:
        logger.warning(
            "could not send %s %s to the broker; it stays in the database and will be sent again",
            request.job_class,
            request.job_request_uuid,
            exc_info=True,
        )
        _mark_unsent(request)
        return False
    return True


def send_many(requests: list[JobRequest]) -> int:
    """Publish many messages over one broker connection; how many left.

    On the first failure the rest are not tried: they are marked unsent for the sweeper.
    """
    from celery import current_app

    sent = 0
    try:
        with current_app.producer_or_acquire() as producer:
            for request in requests:
                registry.task_for(request.job_class).apply_async(
                    args=[str(request.job_request_uuid)],
                    task_id=str(request.job_request_uuid),
                    producer=producer,
                    **publish_options(request),
                )
                sent += 1
    except Exception:
        logger.warning(
            "could not send %d of %d requests to the broker; they stay in the database and "
            "will be sent again",
            len(requests) - sent,
            len(requests),
            exc_info=True,
        )
        _mark_unsent(*requests[sent:])
    return sent


def _mark_unsent(*requests: JobRequest) -> None:
    from .models import JobRequest

    uuids = [request.job_request_uuid for request in requests]
    try:
        JobRequest.objects.filter(job_request_uuid__in=uuids).update(sent_at=None)
    except Exception:  # the database may be what failed; the sweeper's resend rule covers it
        logger.exception("could not mark %d requests unsent", len(uuids))
