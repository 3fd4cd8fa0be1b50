"""Every system check id jobkit can report, with its level, the problem it finds and its fix.

One table for three readers: the check functions build their messages from it (so an id's level
and hint are written once), the documentation's system checks page is generated from it, and
the README's table is tested against it. It sits at the bottom of the package so that checks
made elsewhere (the schedules' `E010`-`E013`) read it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.checks import ERROR, WARNING, CheckMessage, Error, Warning


@dataclass(frozen=True)
class CheckSpec:
    """One check id: what the documentation says of it and what its messages share."""

    id: str
    level: int  # django.core.checks.ERROR or WARNING
    problem: str  # what the check finds, in a line (Markdown)
    hint: str  # how to fix it: the message's hint, unless the check words one for the case
    database: bool = False  # run only by `check --database` and `migrate`


def _spec(check_id: str, level: int, problem: str, hint: str, **kwargs: Any) -> CheckSpec:
    return CheckSpec(f"django_jobkit.{check_id}", level, problem, hint, **kwargs)


SCHEDULE_SHAPE = (
    'Each entry is ("app.jobs.SomeJob", "<cron expression>") or ("app.jobs.SomeJob", '
    '"<cron expression>", {options}).'
)

CATALOGUE: dict[str, CheckSpec] = {
    spec.id: spec
    for spec in [
        _spec(
            "E001",
            ERROR,
            "Celery sends or accepts pickle (`CELERY_TASK_SERIALIZER`, `CELERY_ACCEPT_CONTENT`)",
            "jobkit messages are JSON only; set CELERY_TASK_SERIALIZER = 'json' and "
            "CELERY_ACCEPT_CONTENT = ['json']: a pickle message can run arbitrary code.",
        ),
        _spec(
            "E002",
            ERROR,
            "`django_celery_beat` is not in `INSTALLED_APPS`",
            "django-jobkit needs it for scheduled jobs and its sweeper; add it to INSTALLED_APPS.",
        ),
        _spec(
            "E003",
            ERROR,
            "`django_celery_results` is not in `INSTALLED_APPS`",
            "django-jobkit needs it for Celery's own task results; add it to INSTALLED_APPS.",
        ),
        _spec(
            "E004",
            ERROR,
            'a SQLite database lacks `"transaction_mode": "IMMEDIATE"`',
            "Without it two enqueues can both pass should_enqueue and the concurrency key "
            'no longer deduplicates; add "transaction_mode": "IMMEDIATE" to its OPTIONS.',
        ),
        _spec(
            "E005",
            ERROR,
            "`USE_TZ` is `False`",
            "Delayed and scheduled jobs compare times across hosts; set USE_TZ = True.",
        ),
        _spec(
            "E006",
            ERROR,
            "a `JOBKIT_MIDDLEWARE` entry cannot be imported",
            "Give the dotted path of a middleware class.",
        ),
        _spec(
            "E010",
            ERROR,
            "a `JOBKIT_SCHEDULE` entry has an invalid cron expression or time zone",
            "Use standard 5-field cron (minute hour day-of-month month day-of-week) or "
            "@hourly/@daily/@weekly/@monthly/@yearly, and a zone name such as 'Europe/Paris'.",
        ),
        _spec(
            "E011",
            ERROR,
            "a `JOBKIT_SCHEDULE` entry is malformed (shape, options, job, arguments)",
            SCHEDULE_SHAPE + " Scheduled job arguments must be storable as JSON; key and queue "
            "must be str, priority, retries and timeout int.",
        ),
        _spec(
            "E012",
            ERROR,
            "a Job's `schedule` is not a `Schedule`, or the job cannot be built without arguments",
            'Write schedule = Schedule.from_cron("0 9 * * *"); schedule jobs that take '
            "arguments in JOBKIT_SCHEDULE, with their kwargs.",
        ),
        _spec(
            "E013",
            ERROR,
            "two schedules of the same job share a key",
            "Give each JOBKIT_SCHEDULE entry of this job a distinct 'key' option.",
        ),
        _spec(
            "E014",
            ERROR,
            "django-celery-beat is older than 2.9",
            "Older releases may never fire a crontab whose hour is far from the hour beat "
            "started (django-celery-beat#956); pip install 'django-celery-beat>=2.9'.",
        ),
        _spec(
            "W001",
            WARNING,
            'Celery\'s default queue is not `"default"`',
            "A worker started without -Q would not consume jobs; set "
            "CELERY_TASK_DEFAULT_QUEUE = 'default' (or always start workers with -Q).",
        ),
        _spec(
            "W002",
            WARNING,
            "the Redis broker keeps its default priority steps",
            "Set CELERY_BROKER_TRANSPORT_OPTIONS = {'priority_steps': "
            "list(range(10)), 'sep': ':', 'queue_order_strategy': 'priority'}.",
        ),
        _spec(
            "W003",
            WARNING,
            "RabbitMQ queues are declared without `x-max-priority`",
            "Set CELERY_TASK_QUEUE_MAX_PRIORITY = 10 (existing queues must be deleted "
            "first: RabbitMQ cannot change a queue's arguments).",
        ),
        _spec(
            "W004",
            WARNING,
            "a database has `CONN_MAX_AGE = 0`: workers would connect anew for every job",
            "Set CONN_MAX_AGE (e.g. 60, or None for no limit) and "
            "CONN_HEALTH_CHECKS = True; jobkit keeps worker connections by them.",
        ),
        _spec(
            "W005",
            WARNING,
            "a database keeps connections without `CONN_HEALTH_CHECKS`",
            "Set CONN_HEALTH_CHECKS = True, so that a worker whose connection was "
            "dropped (database restart, idle timeout) reconnects instead of failing a job.",
        ),
        _spec(
            "W006",
            WARNING,
            "`DJANGO_CELERY_BEAT_TZ_AWARE` is `False`",
            "Scheduled jobs would fire at their hour in UTC, not in their zone; remove "
            "the setting (it defaults to True).",
        ),
        _spec(
            "W007",
            WARNING,
            "the filesystem broker polls its folder less often than every 0.2 s",
            "Set CELERY_BROKER_TRANSPORT_OPTIONS['polling_interval'] = 0.05 (a development "
            "setup: each idle worker then lists the folder 20 times a second).",
        ),
        _spec(
            "W008",
            WARNING,
            "an enabled django-celery-beat periodic task runs a job's own task (fails at every "
            "tick; schedule `django_jobkit.enqueue`)",
            'Make it run django_jobkit.enqueue with the keyword arguments {"job": "<the job '
            'task>", "args": [...], "kwargs": {...}}, or give the job a Schedule in the code.',
            database=True,
        ),
    ]
}


def message(check_id: str, msg: str, *, hint: str | None = None, obj: Any = None) -> CheckMessage:
    """The `Error` or `Warning` its catalogue entry calls for; `hint` replaces the entry's own.

    A `KeyError` for an id missing from the catalogue: a check cannot report an undocumented id.
    """
    spec = CATALOGUE[check_id]
    level = Error if spec.level == ERROR else Warning
    return level(msg, hint=spec.hint if hint is None else hint, obj=obj, id=check_id)
