from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.module_loading import autodiscover_modules


class JobkitConfig(AppConfig):
    name = "django_jobkit"
    label = "django_jobkit"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks, connections and heartbeat register system checks and worker signals.
        from . import (  # noqa: F401
            checks,
            connections,
            filesystem_broker,
            heartbeat,
            redis_acks,
            redis_clients,
        )
        from .conf import jobkit_settings

        filesystem_broker.install()  # kombu#1551: a half-written message kills the consumer
        if jobkit_settings.REUSE_REDIS_CLIENTS:
            redis_clients.install()
        if jobkit_settings.SKIP_REDIS_ACK_EMULATION:
            redis_acks.install()  # the database, not Redis, brings lost jobkit messages back

        # Like admin.py: every installed app's jobs.py registers its jobs, in web and worker
        # processes alike, before the first message is consumed.
        autodiscover_modules("jobs")

        # Scheduled jobs: the fire_schedule task and beat's signal handlers, and beat's rows
        # kept in sync with the code after every migrate.
        from . import beat

        post_migrate.connect(
            beat.sync_after_migrate, sender=self, dispatch_uid="django_jobkit.sync_schedules"
        )
        post_migrate.connect(_install_periodic_tasks, sender=self)


def _install_periodic_tasks(using: str = "default", **kwargs: Any) -> None:
    if apps.is_installed("django_celery_beat"):
        from .sweeper import install_periodic_sweep

        install_periodic_sweep(using)
