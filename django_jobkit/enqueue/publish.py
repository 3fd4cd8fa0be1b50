"""Sending a committed request to the broker: the only place jobkit publishes a message.

A jobkit message is an ordinary Celery protocol-2 task message whose only argument is the
request's uuid. Celery builds every message from scratch (about 0.4 ms of Python each, more
than the database's INSERT and commit together); jobkit's messages of one kind differ only in
their id, so one is built with Celery's own `as_task_v2` and stamped per request. Whenever
someone listens to Celery's publish signals or sent events are on, Celery's own
`apply_async` is used instead, so that tracing and monitoring see every message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, NamedTuple

from celery import current_app, signals
from django.core.signals import setting_changed
from django.utils import timezone
from kombu import Producer

from .. import registry
from ..conf import jobkit_settings
from . import routing

if TYPE_CHECKING:
    from ..models import JobRequest

logger = logging.getLogger("django_jobkit.publish")


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
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a Proxy
    if _app_settings(app).eager:
        return run_eagerly(app, request)
    try:
        with pooled_producer(app) as producer:
            Publisher(app, producer, retry=True).publish(request)
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


def run_eagerly(app: Any, request: JobRequest) -> bool:
    """`CELERY_TASK_ALWAYS_EAGER`: run the job here and now, through Celery's own eager path.

    This is how projects' test suites run Celery tasks, and the job's rows are recorded as a
    worker records them. A request that starts later (a delay, a retry's or a deferral's
    delay) is not run early, as Celery's eager mode would: it waits in the database, and the
    sweep that finds it due (`manage.py jobkit sweep`, `Sweeper().sweep()`) runs it then.
    Errors of the engine itself propagate, so a test sees them.
    """
    if request.start_at is not None and request.start_at > timezone.now():
        _mark_unsent(request)
        return False
    task = app.tasks[registry.name_for(registry.job_class_for(request.job_class))]
    task_id = str(request.job_request_uuid)
    task.apply_async(args=[task_id], task_id=task_id, **publish_options(request))
    return True


def send_many(requests: list[JobRequest]) -> int:
    """Publish many messages over one connection, pipelined where kombu can; how many.

    On a failure the rest are not tried: they are marked unsent for the sweeper (all of them
    when publishing was pipelined, since a failed flush may have lost any: a request sent twice
    still runs once).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a Proxy
    if _app_settings(app).eager:
        return sum(run_eagerly(app, request) for request in requests)
    sent = 0
    pipelined = False
    try:
        # kombu >= 5.7 pipelines a batch's publishes (one Redis round trip per 1,000).
        with (
            pooled_producer(app) as producer,
            producer.batch() if hasattr(producer, "batch") else nullcontext(),
        ):
            pipelined = hasattr(producer, "batch")
            publisher = Publisher(app, producer, retry=False)
            for request in requests:
                publisher.publish(request)
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


#: Where a channel keeps its jobkit producer (an attribute: the producer refers to its
#: channel, so a mapping keyed by channels would keep every channel alive).
_PRODUCER_ATTRIBUTE = "_jobkit_producer"


@contextmanager
def pooled_producer(app: Any) -> Iterator[Any]:
    """A producer on a connection from the app's broker pool, kept with that connection's
    channel and reused.

    Celery's `producer_or_acquire` reads its settings and re-binds a pooled producer on every
    call (about 40 µs, a quarter of a publish); the connections, and so the pool's limit, are
    the same ones Celery's producers use. A channel replaced after a connection error gets a
    new producer; kombu's publish retries revive the old one as they do Celery's.
    """
    connection = app.pool.acquire(block=True)
    try:
        channel = connection.default_channel
        producer = getattr(channel, _PRODUCER_ATTRIBUTE, None)
        if producer is None or producer.channel is not channel:
            producer = Producer(channel, serializer="json", auto_declare=False)
            setattr(channel, _PRODUCER_ATTRIBUTE, producer)
        yield producer
    finally:
        connection.release()


class Publisher:
    """Publishes requests' messages on one producer, from templates where nobody watches."""

    def __init__(self, app: Any, producer: Any, *, retry: bool) -> None:
        self.app = app
        self.producer = producer
        self.retry = retry
        conf = _app_settings(app)
        self.sent_events, self.delivery_mode = conf.sent_events, conf.delivery_mode
        self.retry_policy, self.broker_kind = conf.retry_policy, conf.broker_kind
        # Where the broker cannot order, Celery still sends the task's default priority.
        self.default_priority = conf.default_priority
        self._plans: dict[tuple[Any, ...], tuple[Any, dict[str, Any], Any, Any]] = {}

    def publish(self, request: JobRequest) -> None:
        task, options, template, queue = self._plan(request)
        task_id = str(request.job_request_uuid)
        if template is None:
            # Celery's own path, so that publish signals and sent events still fire.
            task.apply_async(args=[task_id], task_id=task_id, producer=self.producer, **options)
            return
        if hash(queue) not in self.producer.connection.declared_entities:
            self.producer.maybe_declare(queue)  # RabbitMQ drops messages to unknown queues
        # The message goes to the anonymous exchange; `pooled_producer`'s producers never
        # re-declare their own exchange on publish (kombu copies and binds it, ~60 µs).
        self._publish(task_id, template, queue, options)

    def _plan(self, request: JobRequest) -> tuple[Any, dict[str, Any], Any, Any]:
        """The task, options, template and queue of a request's message; one per kind of
        request for a batch (an ETA makes each its own)."""
        key = None
        if request.start_at is None:
            key = (request.job_class, request.queue, request.priority, request.timeout)
            plan = self._plans.get(key)
            if plan is not None:
                return plan
        task = self.app.tasks[registry.name_for(registry.job_class_for(request.job_class))]
        options = publish_options(request, self.broker_kind)
        if self.sent_events or _observed(task.name):
            plan = (task, options, None, None)
        else:
            template = _template(self.app, task.name, options)
            plan = (task, options, template, self.app.amqp.queues[options["queue"]])
        if key is not None:
            self._plans[key] = plan
        return plan

    def _publish(self, task_id: str, template: Any, queue: Any, options: dict[str, Any]) -> None:
        headers = {**template.headers, "id": task_id, "root_id": task_id}
        headers["argsrepr"] = f"['{task_id}']"
        self.producer.publish(
            ([task_id], {}, template.body[2]),
            exchange="",
            routing_key=queue.name,
            serializer="json",
            headers=headers,
            retry=self.retry,
            retry_policy=self.retry_policy,
            priority=options.get("priority", self.default_priority),
            delivery_mode=queue.exchange.delivery_mode or self.delivery_mode,
            **{**template.properties, "correlation_id": task_id},
        )


class AppSettings(NamedTuple):
    sent_events: bool
    delivery_mode: Any
    retry_policy: Any
    broker_kind: str
    eager: bool
    default_priority: int | None


_settings: dict[int, AppSettings] = {}


def _app_settings(app: Any) -> AppSettings:
    """The Celery settings publishing reads, looked up once: each lookup through Celery's
    Django-namespaced configuration costs tens of microseconds. `clear_caches` forgets them
    (it runs on Django's `setting_changed`; call it after changing `app.conf` directly)."""
    values = _settings.get(id(app))
    if values is None:
        conf = app.conf
        values = _settings[id(app)] = AppSettings(
            sent_events=bool(conf.task_send_sent_event),
            delivery_mode=conf.task_default_delivery_mode,
            retry_policy=conf.task_publish_retry_policy,
            broker_kind=routing.broker_kind(app),
            eager=bool(conf.task_always_eager),
            default_priority=conf.task_default_priority,
        )
    return values


def clear_caches(**kwargs: Any) -> None:
    """Forget cached Celery settings and message templates (after configuration changes)."""
    _settings.clear()
    _templates.clear()


setting_changed.connect(clear_caches)


def _observed(task_name: str) -> bool:
    return signals.before_task_publish.has_listeners(
        task_name
    ) or signals.after_task_publish.has_listeners(task_name)


_templates: dict[tuple[Any, ...], Any] = {}


def _template(app: Any, name: str, options: dict[str, Any]) -> Any:
    """Celery's own message for this kind of job, built once (its id is replaced on use)."""
    key = (
        id(app),
        name,
        options.get("eta"),
        options.get("time_limit"),
        options.get("soft_time_limit"),
    )
    template = _templates.get(key)
    if template is None:
        if len(_templates) > 1000:  # ETAs make keys of their own: keep the cache bounded
            _templates.clear()
        template = _templates[key] = app.amqp.as_task_v2(
            "<id>",
            name,
            args=["<id>"],
            eta=options.get("eta"),
            time_limit=options.get("time_limit"),
            soft_time_limit=options.get("soft_time_limit"),
            ignore_result=True,
        )
    return template


def _mark_unsent(*requests: JobRequest) -> None:
    from ..models import JobRequest

    uuids = [request.job_request_uuid for request in requests]
    try:
        JobRequest.objects.mark_unsent(uuids)
    except Exception:  # the database may be what failed; the sweeper's resend rule covers it
        logger.exception("could not mark %d requests unsent", len(uuids))
