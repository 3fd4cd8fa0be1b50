"""Sending a committed request to the broker: the only place jobkit publishes a message."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from . import registry, routing
from .conf import jobkit_settings

if TYPE_CHECKING:
    from .models import JobRequest

logger = logging.getLogger("django_jobkit.dispatch")


def publish_options(request: JobRequest, broker_kind: str | None = None) -> dict[str, Any]:
    """Queue, priority, ETA and time limits of the request's message."""
    options = routing.route(request.queue, request.priority, kind=broker_kind)
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
    """Publish many messages over one broker connection, pipelined where kombu can; how many.

    On a failure the rest are not tried: they are marked unsent for the sweeper (all of them
    when publishing was pipelined, since a failed flush may have lost any: a request sent twice
    still runs once).
    """
    from celery import current_app

    app = current_app._get_current_object()
    sent = 0
    pipelined = False
    try:
        # kombu >= 5.7 pipelines a batch's publishes (one Redis round trip per 1,000).
        with (
            app.producer_or_acquire() as producer,
            producer.batch() if hasattr(producer, "batch") else nullcontext(),
        ):
            pipelined = hasattr(producer, "batch")
            publisher = _TemplatePublisher(app, producer)
            for request in requests:
                task = registry.task_for(request.job_class)
                if publisher.sent_events or _observed(task.name):
                    # Celery's own path, so that publish signals and events still fire.
                    task.apply_async(
                        args=[str(request.job_request_uuid)],
                        task_id=str(request.job_request_uuid),
                        producer=producer,
                        **publish_options(request),
                    )
                else:
                    publisher.publish(task.name, request)
                sent += 1
    except Exception:
        logger.warning(
            "could not send %d of %d requests to the broker; they stay in the database and "
            "will be sent again",
            len(requests) - sent,
            len(requests),
            exc_info=True,
        )
        _mark_unsent(*(requests if pipelined else requests[sent:]))
        return 0 if pipelined else sent
    return sent


def _observed(task_name: str) -> bool:
    from celery import signals

    return signals.before_task_publish.has_listeners(
        task_name
    ) or signals.after_task_publish.has_listeners(task_name)


class _TemplatePublisher:
    """Publish Celery protocol-2 messages built once per kind of job and stamped per request.

    Celery builds every message from scratch (about 0.25 ms of Python each); messages of one
    kind differ only in their id, so one is built with Celery's own `as_task_v2` and copied.
    Queues are declared once per batch rather than checked on every publish.
    """

    def __init__(self, app: Any, producer: Any) -> None:
        self.app = app
        self.producer = producer
        self.sent_events = bool(app.conf.task_send_sent_event)
        self.delivery_mode = app.conf.task_default_delivery_mode
        self.broker_kind = routing.broker_kind(app)
        self.templates: dict[tuple[Any, ...], Any] = {}
        self.queues: dict[str, Any] = {}

    def queue(self, name: str) -> Any:
        queue = self.queues.get(name)
        if queue is None:
            queue = self.queues[name] = self.app.amqp.queues[name]
            self.producer.maybe_declare(queue)
        return queue

    def publish(self, name: str, request: JobRequest) -> None:
        options = publish_options(request, self.broker_kind)
        task_id = str(request.job_request_uuid)
        key = (name, options.get("eta"), options.get("time_limit"), options.get("soft_time_limit"))
        template = self.templates.get(key)
        if template is None:
            template = self.templates[key] = self.app.amqp.as_task_v2(
                task_id,
                name,
                args=[task_id],
                eta=options.get("eta"),
                time_limit=options.get("time_limit"),
                soft_time_limit=options.get("soft_time_limit"),
                ignore_result=True,
            )
        queue = self.queue(options["queue"])
        headers = {**template.headers, "id": task_id, "root_id": task_id}
        headers["argsrepr"] = f"['{task_id}']"
        self.producer.publish(
            ([task_id], {}, template.body[2]),
            exchange="",
            routing_key=queue.name,
            serializer="json",
            headers=headers,
            retry=False,
            priority=options.get("priority"),
            delivery_mode=queue.exchange.delivery_mode or self.delivery_mode,
            **{**template.properties, "correlation_id": task_id},
        )


def _mark_unsent(*requests: JobRequest) -> None:
    from .models import JobRequest

    uuids = [request.job_request_uuid for request in requests]
    try:
        JobRequest.objects.filter(job_request_uuid__in=uuids).update(sent_at=None)
    except Exception:  # the database may be what failed; the sweeper's resend rule covers it
        logger.exception("could not mark %d requests unsent", len(uuids))
