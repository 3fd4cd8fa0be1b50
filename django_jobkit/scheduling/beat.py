"""Scheduled jobs in django-celery-beat: rows kept in sync, occurrences fired exactly once.

- `sync_schedules()` writes one `PeriodicTask` (two for a cron expression restricting both
  day fields) per schedule, named "jobkit: <schedule>", running the `django_jobkit.fire_schedule`
  task. Rows with other names or tasks belong to the user and are never read or written.
  A managed row paused in beat's admin (Enabled unticked) stays paused across syncs.
- Beat sends `fire_schedule` at each occurrence; a worker runs it and enqueues the job through
  `run_in_worker` with the concurrency key `<key>:scheduled:<epoch>`, under that key's lock and
  only when no request, process or result of that occurrence exists yet — so two beats, a
  restarted beat or a redelivered message still enqueue each occurrence once.
- When beat starts, schedules with `catch_up` enqueue the occurrences they missed while it was
  down (the most recent `JOBKIT_SCHEDULE_CATCH_UP_LIMIT`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from celery import shared_task
from celery.signals import beat_init, before_task_publish
from django.apps import apps
from django.db import connections, router, transaction
from django.utils import timezone

from ..conf import jobkit_settings
from ..exceptions import InvalidSchedule
from ..models import locks
from .entries import ScheduledJob, scheduled_jobs
from .schedule import Schedule

if TYPE_CHECKING:
    from django_celery_beat.models import PeriodicTask

    from ..models import JobRequest, JobResult

logger = logging.getLogger("django_jobkit.scheduling")

FIRE_TASK = "django_jobkit.fire_schedule"
ROW_PREFIX = "django-jobkit: "
FIRED_AT_HEADER = "jobkit_fired_at"
MANAGED_NOTE = "Managed by django-jobkit"
REMOVED_NOTE = "Removed from the code: disabled by django-jobkit"
REMOVED_PAUSED_NOTE = "Removed from the code while paused in the admin"
_DAY_SUFFIXES = (" [day of month]", " [day of week]")

_in_beat = False  # set in a beat process: its fire_schedule messages carry their firing time


# --- sync ----------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a sync did, row name by row name."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)  #: schedules removed from the code
    enabled: list[str] = field(default_factory=list)  #: removed schedules that came back
    paused: list[str] = field(default_factory=list)  #: kept paused, as the admin left them
    conflicts: list[str] = field(default_factory=list)  #: names taken by the user's rows

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.disabled or self.enabled)

    def lines(self) -> list[str]:
        words = [
            ("created", self.created),
            ("updated", self.updated),
            ("disabled (removed from the code)", self.disabled),
            ("enabled again", self.enabled),
            ("left paused (paused in the admin)", self.paused),
            ("skipped (name used by a periodic task jobkit does not manage)", self.conflicts),
        ]
        return [f"{what}: {name!r}" for what, names in words for name in names]


@dataclass(frozen=True)
class BeatRow:
    """The managed `PeriodicTask` one schedule needs (or one of its two)."""

    name: str
    crontab: dict[str, str]
    zone: str
    kwargs: str
    description: str


def beat_rows(entry: ScheduledJob) -> list[BeatRow]:
    schedule = entry.schedule
    crontabs = schedule.crontabs()
    suffixes = _DAY_SUFFIXES if len(crontabs) == 2 else ("",)
    kwargs = json.dumps(
        {
            "schedule": entry.name,
            "expression": schedule.expression_5,
            "timezone": schedule.zone_name,
        },
        sort_keys=True,
    )
    description = (
        f"{MANAGED_NOTE}: enqueues {entry.job_name} on {schedule.expression!r} "
        f"({schedule.zone_name}). Change the schedule in the code; `manage.py migrate` and "
        "`manage.py jobkit sync_schedules` update this row. Untick Enabled to pause it: "
        "syncs leave a paused row paused."
    )
    return [
        BeatRow(
            f"{ROW_PREFIX}{entry.name}{suffix}", crontab, schedule.zone_name, kwargs, description
        )
        for crontab, suffix in zip(crontabs, suffixes, strict=True)
    ]


def managed_rows(using: str | None = None) -> Any:
    """Every `PeriodicTask` jobkit manages: its name prefix and its task, both."""
    from django_celery_beat.models import PeriodicTask

    rows = PeriodicTask.objects.filter(name__startswith=ROW_PREFIX, task=FIRE_TASK)
    return rows.using(using) if using else rows


def sync_schedules(
    entries: Iterable[ScheduledJob] | None = None, *, using: str | None = None
) -> SyncReport:
    """Make beat's managed rows match the schedules; idempotent (a second run changes nothing).

    New schedules get a row; a changed expression, zone or queue updates it; a schedule gone
    from the code disables its row. A row paused in the admin stays paused. Rows jobkit does
    not manage are never changed, even when one has the name a schedule would use.
    """
    from django_celery_beat.models import PeriodicTask

    if entries is None:
        entries = scheduled_jobs()
    using = using or router.db_for_write(PeriodicTask)
    wanted = {row.name: row for entry in entries for row in beat_rows(entry)}
    report = SyncReport()
    with transaction.atomic(using=using):
        locks.acquire(using, FIRE_TASK, "sync")  # one sync at a time
        existing = {row.name: row for row in managed_rows(using).select_related("crontab")}
        taken = set(
            PeriodicTask.objects.using(using)
            .filter(name__in=[n for n in wanted if n not in existing])
            .values_list("name", flat=True)
        )
        for name, spec in wanted.items():
            if name in taken:
                report.conflicts.append(name)
            elif name in existing:
                _update(existing.pop(name), spec, report, using)
            else:
                _create(spec, using)
                report.created.append(name)
        for row in existing.values():
            _retire(row, report)
    return report


def _row_fields(spec: BeatRow) -> dict[str, Any]:
    return {
        "task": FIRE_TASK,
        "args": "[]",
        "kwargs": spec.kwargs,
        "queue": jobkit_settings.SCHEDULE_QUEUE,
        "description": spec.description,
    }


def _crontab(spec: BeatRow, using: str) -> Any:
    from django_celery_beat.models import CrontabSchedule

    zone = ZoneInfo(spec.zone)
    found = CrontabSchedule.objects.using(using).filter(**spec.crontab, timezone=zone).first()
    return found or CrontabSchedule.objects.using(using).create(**spec.crontab, timezone=zone)


def _crontab_matches(row: PeriodicTask, spec: BeatRow) -> bool:
    crontab = row.crontab
    if crontab is None or row.interval_id or row.solar_id or row.clocked_id:
        return False
    return str(crontab.timezone) == spec.zone and all(
        getattr(crontab, name) == value for name, value in spec.crontab.items()
    )


def _create(spec: BeatRow, using: str) -> None:
    from django_celery_beat.models import PeriodicTask

    row = PeriodicTask(name=spec.name, crontab=_crontab(spec, using), **_row_fields(spec))
    row.save(using=using)


def _update(row: PeriodicTask, spec: BeatRow, report: SyncReport, using: str) -> None:
    removed_by_jobkit = row.description.startswith(REMOVED_NOTE)
    changed = False
    for name, value in _row_fields(spec).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if not _crontab_matches(row, spec):
        row.crontab = _crontab(spec, using)
        row.interval = row.solar = row.clocked = None
        changed = True
    if not row.enabled:
        if removed_by_jobkit:  # jobkit disabled it when the schedule went: it is back
            row.enabled = True
            report.enabled.append(row.name)
        else:  # paused in the admin: stays paused
            report.paused.append(row.name)
    if changed and row.name not in report.enabled:
        report.updated.append(row.name)
    if changed or row.name in report.enabled:
        row.save(using=using)


def _retire(row: PeriodicTask, report: SyncReport) -> None:
    """A managed row whose schedule is gone: disabled, and marked so a return re-enables it."""
    if row.description.startswith((REMOVED_NOTE, REMOVED_PAUSED_NOTE)):
        return
    note = REMOVED_NOTE if row.enabled else REMOVED_PAUSED_NOTE
    row.enabled = False
    row.description = f"{note}. It was: {row.description}"
    row.save(using=row._state.db)
    report.disabled.append(row.name)


def sync_after_migrate(
    sender: Any, using: str = "default", verbosity: int = 1, stdout: Any = None, **kwargs: Any
) -> None:
    """`post_migrate`: sync once beat's and jobkit's tables exist in this database."""
    if not apps.is_installed("django_celery_beat"):
        return
    from django_celery_beat.models import PeriodicTask

    from ..models import JobLock

    # Beat reads its rows where writes to them go: a replica or another database that merely
    # holds the same schema gets none (its copy would clash with the primary's on unique names).
    if not router.allow_migrate_model(using, PeriodicTask):
        return
    if router.db_for_write(PeriodicTask) != using:
        return
    tables = set(connections[using].introspection.table_names())
    if not {PeriodicTask._meta.db_table, JobLock._meta.db_table} <= tables:
        return
    report = sync_schedules(using=using)
    if verbosity >= 1 and report.changed and stdout is not None:
        for line in report.lines():
            stdout.write(f"  jobkit schedules, {line}\n")


# --- firing --------------------------------------------------------------------------------


def already_enqueued(using: str, job_name: str, concurrency_key: str) -> bool:
    """True once an occurrence has a request, a process or a result (of any attempt)."""
    from ..models import JobProcess, JobRequest, JobResult

    return any(
        model.objects.using(using)
        .filter(job_class=job_name, concurrency_key=concurrency_key)
        .exists()
        for model in (JobRequest, JobProcess, JobResult)
    )


def fire(entry: ScheduledJob, occurrence: datetime) -> JobRequest | None:
    """Enqueue one occurrence of a schedule, unless it was already; None when not enqueued.

    The check and the insert happen under the occurrence key's lock, in one transaction, so
    concurrent firings of the same occurrence enqueue it once. `should_enqueue` still has the
    last word.
    """
    from ..models import JobRequest

    key = entry.occurrence_key(occurrence)
    using = router.db_for_write(JobRequest)
    with transaction.atomic(using=using):
        locks.acquire(using, entry.job_name, key)
        if already_enqueued(using, entry.job_name, key):
            logger.info("schedule %s: occurrence %s was already enqueued", entry.name, key)
            return None
        request = entry.job().run_in_worker(concurrency_key=key, **entry.enqueue_options())
    if request is None:
        logger.info("schedule %s: should_enqueue refused occurrence %s", entry.name, key)
    else:
        logger.info(
            "schedule %s: enqueued occurrence %s as %s", entry.name, key, request.job_request_uuid
        )
    return request


def on_firing(
    name: str, expression: str = "", zone: str = "", fired_at: datetime | None = None
) -> JobRequest | None:
    """What `fire_schedule` does with one message from beat (or from a manual run)."""
    entry = {e.name: e for e in scheduled_jobs()}.get(name)
    if entry is None:
        logger.warning(
            "beat fired schedule %r, which no longer exists; run `manage.py jobkit "
            "sync_schedules` to disable its periodic task",
            name,
        )
        return None
    if fired_at is None:
        # Not sent by beat: the admin's "Run selected tasks" — run the job now.
        logger.info("schedule %s: run now (not an occurrence)", entry.name)
        return entry.job().run_in_worker(concurrency_key=entry.key, **entry.enqueue_options())
    timing = entry.schedule
    if expression and (expression, zone) != (timing.expression_5, timing.zone_name):
        # Beat fired a row not yet synced to a new expression: read it as beat did.
        with contextlib.suppress(InvalidSchedule):
            timing = Schedule.from_cron(expression, zone or None)
    occurrence = timing.latest_at_or_before(fired_at)
    late = (fired_at - occurrence).total_seconds()
    if late > jobkit_settings.SCHEDULE_MISFIRE_GRACE and not entry.schedule.catch_up:
        logger.info(
            "schedule %s: skipped occurrence %s, fired %d s late (beat was down); set "
            "catch_up=True to run missed occurrences",
            entry.name,
            occurrence.isoformat(),
            late,
        )
        return None
    return fire(entry, occurrence)


@shared_task(name=FIRE_TASK, bind=True, ignore_result=True)
def fire_schedule(self: Any, schedule: str, expression: str = "", timezone: str = "") -> None:
    """Sent by beat at each occurrence of a jobkit schedule: enqueue that occurrence."""
    stamp = self.request.get(FIRED_AT_HEADER)
    fired_at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    on_firing(schedule, expression, timezone, fired_at)


@before_task_publish.connect(sender=FIRE_TASK, dispatch_uid="django_jobkit.beat.stamp_firing")
def _stamp_firing(sender: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if _in_beat and sender == FIRE_TASK and headers is not None:
        headers[FIRED_AT_HEADER] = timezone.now().isoformat()


# --- catch-up ------------------------------------------------------------------------------


def catch_up(now: datetime | None = None) -> list[JobRequest]:
    """Enqueue the occurrences `catch_up` schedules missed since beat last fired them.

    Beat's own record of its last firing (`last_run_at`) marks where a gap starts; at most
    `JOBKIT_SCHEDULE_CATCH_UP_LIMIT` occurrences per schedule, the most recent, are enqueued.
    Occurrences that were enqueued after all (beat died before saving) are skipped by `fire`.
    """
    now = now or timezone.now()
    last_runs: dict[str, datetime] = {}
    for row in managed_rows().filter(enabled=True, last_run_at__isnull=False):
        name = json.loads(row.kwargs or "{}").get("schedule")
        if isinstance(name, str):
            last_runs[name] = max(row.last_run_at, last_runs.get(name, row.last_run_at))
    requests = []
    limit = jobkit_settings.SCHEDULE_CATCH_UP_LIMIT
    for entry in scheduled_jobs():
        last = last_runs.get(entry.name)
        if last is None or not entry.schedule.catch_up:
            continue
        for occurrence in entry.schedule.occurrences_between(last, now, limit=limit):
            request = fire(entry, occurrence)
            if request is not None:
                requests.append(request)
    return requests


@beat_init.connect(dispatch_uid="django_jobkit.beat.beat_started")
def _beat_started(sender: Any = None, **kwargs: Any) -> None:
    global _in_beat
    _in_beat = True
    if not apps.is_installed("django_celery_beat"):
        return
    from django_celery_beat.schedulers import DatabaseScheduler

    if not isinstance(getattr(sender, "scheduler", None), DatabaseScheduler):
        return
    try:
        caught_up = catch_up()
    except Exception:
        logger.exception("could not enqueue the occurrences missed while beat was down")
        return
    if caught_up:
        logger.info("enqueued %d occurrence(s) missed while beat was down", len(caught_up))


# --- status --------------------------------------------------------------------------------


@dataclass
class ScheduleStatus:
    """One schedule as `manage.py jobkit schedules` shows it."""

    entry: ScheduledJob
    rows: list[PeriodicTask]
    next_run: datetime
    last_result: JobResult | None
    waiting: str  #: "pending" or "running" when an occurrence is, else ""

    @property
    def beat_state(self) -> str:
        if not self.rows:
            return "not synced"
        enabled = [row.enabled for row in self.rows]
        if all(enabled):
            return "enabled"
        return "paused" if not any(enabled) else "partly paused"


def schedule_statuses(now: datetime | None = None) -> list[ScheduleStatus]:
    from ..models import JobProcess, JobRequest, JobResult

    now = now or timezone.now()
    rows: dict[str, list[PeriodicTask]] = {}
    for row in managed_rows().order_by("name"):
        name = json.loads(row.kwargs or "{}").get("schedule")
        rows.setdefault(name, []).append(row)
    statuses = []
    for entry in scheduled_jobs():
        mine = {"job_class": entry.job_name, "concurrency_key__startswith": entry.key_prefix}
        waiting = (
            "running"
            if JobProcess.objects.primary().filter(**mine).exists()
            else "pending"
            if JobRequest.objects.primary().filter(**mine).exists()
            else ""
        )
        statuses.append(
            ScheduleStatus(
                entry=entry,
                rows=rows.get(entry.name, []),
                next_run=entry.schedule.next_after(now),
                last_result=JobResult.objects.primary()
                .filter(**mine)
                .order_by("-ended_at")
                .first(),
                waiting=waiting,
            )
        )
    return statuses
