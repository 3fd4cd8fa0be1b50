from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules

#: The OpenTelemetry middleware (the `otel` extra): named in JOBKIT_MIDDLEWARE, jobkit traces
#: enqueues too, in every process (`django_jobkit.contrib.otel.instrument`).
OTEL_MIDDLEWARE = "django_jobkit.contrib.otel.OpenTelemetryMiddleware"


class JobkitConfig(AppConfig):
    name = "django_jobkit"
    label = "django_jobkit"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks, connections, gpu, heartbeat and timelimits register system checks and worker
        # signals.
        from . import checks  # noqa: F401
        from ._compat.celery import revoke
        from ._compat.kombu import filesystem as filesystem_broker
        from ._compat.kombu import redis_acks, redis_clients
        from .conf import jobkit_settings
        from .execution import (  # noqa: F401
            connections,
            gpu,
            heartbeat,
            revokes,
            timelimits,
            unknown_tasks,
        )

        filesystem_broker.install()  # kombu#1551: a half-written message kills the consumer
        if jobkit_settings.REUSE_REDIS_CLIENTS:
            redis_clients.install()
        if jobkit_settings.SKIP_REDIS_ACK_EMULATION:
            redis_acks.install()  # the database, not Redis, brings lost jobkit messages back
        revoke.install(revokes.before_revoke)  # a revoke from Flower or `celery control` cancels

        # Like admin.py: every installed app's jobs.py registers its jobs, in web and worker
        # processes alike, before the first message is consumed.
        autodiscover_modules("jobs")
        # With jobkit as a backend of Django's tasks framework, `tasks` modules too: each
        # `@task` there becomes a job class when its module is imported (`task_jobs`).
        from . import task_jobs

        if task_jobs.configured():
            autodiscover_modules("tasks")

        # Scheduled jobs: the fire_schedule and enqueue tasks and beat's signal handlers, and
        # beat's rows kept in sync with the code after every migrate.
        from .scheduling import beat, enqueue_task  # noqa: F401

        post_migrate.connect(
            beat.sync_after_migrate, sender=self, dispatch_uid="django_jobkit.sync_schedules"
        )
        post_migrate.connect(_install_periodic_tasks, sender=self)
        instrument_opentelemetry()


def instrument_opentelemetry() -> None:
    """Connect the enqueue side of OpenTelemetry when its middleware is configured, unless the
    project already did (with providers of its own, from an app that is ready earlier)."""
    from .conf import jobkit_settings

    if OTEL_MIDDLEWARE not in jobkit_settings.MIDDLEWARE:
        return
    from .contrib import otel  # only now: jobkit runs without OpenTelemetry installed

    if not otel.instrumented():
        otel.instrument()


def _install_periodic_tasks(using: str = "default", **kwargs: Any) -> None:
    if not apps.is_installed("django_celery_beat"):
        return
    from django.db import router
    from django_celery_beat.models import PeriodicTask

    from .execution.sweeper import install_periodic_sweep

    if router.db_for_write(PeriodicTask) == using:  # where beat reads, not on every database
        install_periodic_sweep(using)
