"""System checks (`django_jobkit.E0xx` errors, `W0xx` warnings), each id in `check_catalogue`.

Celery's Django fix-up runs these when a worker starts, so a misconfigured worker refuses to
start instead of silently losing guarantees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from celery.signals import celeryd_after_setup
from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.db import DatabaseError, router
from django.utils.module_loading import import_string

from . import registry
from .check_catalogue import message
from .conf import jobkit_settings
from .scheduling.enqueue_task import ENQUEUE_TASK

PICKLE = {"pickle", "application/x-python-serialize"}


def _celery_conf() -> Any:
    from celery import current_app

    return current_app.conf


@register(Tags.security)
def check_no_pickle(**kwargs: Any) -> list[CheckMessage]:
    conf = _celery_conf()
    allowed = {conf.task_serializer, *conf.accept_content}
    if PICKLE & {str(v) for v in allowed}:
        return [message("django_jobkit.E001", "Celery is configured to send or accept pickle.")]
    return []


@register(Tags.compatibility)
def check_installed_apps(**kwargs: Any) -> list[CheckMessage]:
    return [
        message(check_id, f"{app!r} is not in INSTALLED_APPS.")
        for app, check_id in [
            ("django_celery_beat", "django_jobkit.E002"),
            ("django_celery_results", "django_jobkit.E003"),
        ]
        if not apps.is_installed(app)
    ]


@register(Tags.compatibility)
def check_sqlite_immediate(**kwargs: Any) -> list[CheckMessage]:
    return sqlite_without_immediate(settings.DATABASES)


def sqlite_without_immediate(databases: Mapping[str, Mapping[str, Any]]) -> list[CheckMessage]:
    return [
        message(
            "django_jobkit.E004",
            f"SQLite database {alias!r} does not use transaction_mode = 'IMMEDIATE'.",
        )
        for alias, db in databases.items()
        if db.get("ENGINE") == "django.db.backends.sqlite3"
        and str(db.get("OPTIONS", {}).get("transaction_mode", "")).upper() != "IMMEDIATE"
    ]


@register(Tags.compatibility)
def check_use_tz(**kwargs: Any) -> list[CheckMessage]:
    if settings.USE_TZ:
        return []
    return [message("django_jobkit.E005", "USE_TZ is False.")]


@register(Tags.compatibility)
def check_middleware(**kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for path in jobkit_settings.MIDDLEWARE:
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(
                message(
                    "django_jobkit.E006",
                    f"JOBKIT_MIDDLEWARE entry {path!r} cannot be imported: {exc}.",
                )
            )
    return errors


@register(Tags.compatibility)
def check_default_queue(**kwargs: Any) -> list[CheckMessage]:
    conf = _celery_conf()
    if conf.task_default_queue == "default":
        return []
    return [
        message(
            "django_jobkit.W001",
            f"Celery's default queue is {conf.task_default_queue!r}, jobkit's is 'default'.",
        )
    ]


@register(Tags.compatibility)
def check_broker_priorities(**kwargs: Any) -> list[CheckMessage]:
    from .enqueue.routing import BROKER_LEVELS, broker_kind

    conf = _celery_conf()
    kind = broker_kind()
    if kind == "redis":
        steps = (conf.broker_transport_options or {}).get("priority_steps")
        if steps is None or list(steps) != list(range(BROKER_LEVELS)):
            return [
                message(
                    "django_jobkit.W002",
                    "The Redis broker keeps its default priority steps, which merge jobkit's "
                    "ten priority levels into four.",
                )
            ]
    elif kind == "amqp" and not conf.task_queue_max_priority:
        return [
            message(
                "django_jobkit.W003",
                "RabbitMQ queues are declared without x-max-priority: job priorities are ignored.",
            )
        ]
    return []


@register(Tags.compatibility)
def check_schedules(**kwargs: Any) -> list[CheckMessage]:
    """E010-E013: every schedule (Job classes' `schedule`, JOBKIT_SCHEDULE) can be used."""
    from .scheduling.entries import collect

    return [
        message(problem.id, problem.msg, hint=problem.hint, obj=problem.obj)
        for problem in collect()[1]
    ]


#: django-celery-beat 2.8.0 could leave a crontab whose hour is far from beat's start hour
#: out of its schedule for good (django-celery-beat#956); 2.8.1 re-reads it every 5 minutes.
MIN_BEAT_VERSION = (2, 9)


@register(Tags.compatibility)
def check_beat_version(**kwargs: Any) -> list[CheckMessage]:
    from importlib import metadata

    try:
        version = metadata.version("django-celery-beat")
    except metadata.PackageNotFoundError:
        return []
    return beat_version_errors(version)


def beat_version_errors(version: str) -> list[CheckMessage]:
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if numbers >= MIN_BEAT_VERSION:
        return []
    return [
        message(
            "django_jobkit.E014",
            f"django-celery-beat {version} is installed; scheduled jobs need 2.9 or newer.",
        )
    ]


@register(Tags.compatibility)
def check_beat_tz_aware(**kwargs: Any) -> list[CheckMessage]:
    if getattr(settings, "DJANGO_CELERY_BEAT_TZ_AWARE", True):
        return []
    return [
        message(
            "django_jobkit.W006",
            "DJANGO_CELERY_BEAT_TZ_AWARE is False: beat ignores the time zone of schedules.",
        )
    ]


@register(Tags.database)
def check_periodic_job_tasks(
    app_configs: Any = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W008: periodic tasks that name a job's own task, which fails at every tick.

    A database check: `manage.py check --database default` and `migrate` run it.
    """
    if not databases or not apps.is_installed("django_celery_beat"):
        return []
    from django_celery_beat.models import PeriodicTask  # only when the app is installed

    return [
        message
        for alias in databases
        if router.allow_migrate_model(alias, PeriodicTask)
        for message in periodic_job_task_warnings(PeriodicTask.objects.using(alias))
    ]


def periodic_job_task_warnings(periodic_tasks: Any) -> list[CheckMessage]:
    try:
        rows = list(periodic_tasks.filter(enabled=True).values_list("name", "task"))
    except DatabaseError:  # beat's tables not migrated yet
        return []
    return [
        message(
            "django_jobkit.W008",
            f"Periodic task {name!r} runs {task!r}, a job's own task: it fails at every tick "
            "(a job task runs a request already written, not arguments).",
            hint=f"Make it run {ENQUEUE_TASK} with the keyword arguments "
            f'{{"job": "{task}", "args": [...], "kwargs": {{...}}}}, or give the job a '
            "Schedule in the code.",
            obj=name,
        )
        for name, task in rows
        if registry.is_job_task(task)
    ]


@register(Tags.compatibility)
def check_worker_connections(**kwargs: Any) -> list[CheckMessage]:
    return connection_warnings(settings.DATABASES, jobkit_settings.KEEP_DB_CONNECTIONS)


def connection_warnings(
    databases: Mapping[str, Mapping[str, Any]], keep: bool
) -> list[CheckMessage]:
    """Settings that would make workers reconnect to the database for every job."""
    if not keep:
        return []
    messages: list[CheckMessage] = []
    for alias, db in databases.items():
        if db.get("ENGINE") == "django.db.backends.sqlite3":
            continue  # opening a file costs next to nothing
        if db.get("CONN_MAX_AGE", 0) == 0:
            messages.append(
                message(
                    "django_jobkit.W004",
                    f"Database {alias!r} has CONN_MAX_AGE = 0: workers open a new connection "
                    "for every job.",
                )
            )
        elif not db.get("CONN_HEALTH_CHECKS", False):
            messages.append(
                message(
                    "django_jobkit.W005",
                    f"Database {alias!r} keeps connections without CONN_HEALTH_CHECKS.",
                )
            )
    return messages


@register(Tags.compatibility)
def check_filesystem_polling(**kwargs: Any) -> list[CheckMessage]:
    from .enqueue.routing import broker_kind

    conf = _celery_conf()
    if broker_kind() != "filesystem":
        return []
    interval = (conf.broker_transport_options or {}).get("polling_interval", 1.0)
    if interval <= FILESYSTEM_POLLING_MAX:
        return []
    return [
        message(
            "django_jobkit.W007",
            f"The filesystem broker polls its folder every {interval} s: each job waits up to "
            "that long before a worker sees it.",
        )
    ]


#: Longest filesystem-broker polling interval, in seconds, before W007 warns.
FILESYSTEM_POLLING_MAX = 0.2


@celeryd_after_setup.connect(weak=False, dispatch_uid="jobkit-worker-checks")
def refuse_misconfigured_worker(sender: Any = None, **kwargs: Any) -> None:
    """Stop a worker whose project fails the system checks, before it consumes anything.

    Celery's Django fix-up runs the checks at worker start but ignores their errors; a worker
    that would silently break jobkit's guarantees (pickle accepted, dedup without a lock, naive
    times) must not start. `CELERY_SKIP_CHECKS` skips this, as it skips Celery's own run.
    """
    if os.environ.get("CELERY_SKIP_CHECKS"):
        return
    from django.core.checks import run_checks

    errors = [m for m in run_checks() if m.is_serious() and not m.is_silenced()]
    if errors:
        lines = "\n".join(f"  {message}" for message in errors)
        # SystemExit, not an exception: Celery logs and swallows exceptions raised by signal
        # receivers, and the worker would start anyway.
        raise SystemExit(f"Refusing to start the worker: the system checks found errors:\n{lines}")
