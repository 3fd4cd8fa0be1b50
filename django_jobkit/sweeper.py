"""The sweeper: what makes "every committed job ends with a result" true when things fail.

Each step is a short transaction over a bounded batch, safe to run in several processes at
once: rows are taken with SKIP LOCKED (SQLite's IMMEDIATE transactions serialize instead),
and a request's message may at worst be sent twice, in which case the claim still runs it
once. It runs as a Celery beat periodic task installed automatically, or as
`manage.py jobkit sweep` for projects without beat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import timedelta

from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone

from . import dispatch, registry
from .aborting import end_process
from .conf import jobkit_settings
from .exceptions import UnknownJobClass
from .models import JobLock, JobProcess, JobRequest, JobResult, JobWorker
from .worker import _COPIED

logger = logging.getLogger("django_jobkit.sweeper")

#: A worker unheard of for this many heartbeat timeouts is forgotten altogether.
FORGET_WORKERS_AFTER = 10


@dataclass
class SweepReport:
    sent: int = 0
    unknown: int = 0
    lost: int = 0
    pruned_results: int = 0
    pruned_workers: int = 0

    def __str__(self) -> str:
        return ", ".join(
            f"{f.name.replace('_', ' ')} {getattr(self, f.name)}" for f in fields(self)
        )


class Sweeper:
    """One pass over the tables; `sweep()` runs every step once."""

    def sweep(self) -> SweepReport:
        report = SweepReport()
        report.sent, report.unknown = self.send_waiting()
        report.lost = self.end_lost()
        report.pruned_results, report.pruned_workers = self.prune()
        if report.sent or report.unknown or report.lost:
            logger.info("sweep: %s", report)
        return report

    def send_waiting(self) -> tuple[int, int]:
        """Send requests whose message never left, whose delay is almost over, or whose
        message has gone unclaimed so long that the broker may have lost it."""
        now = timezone.now()
        horizon = now + timedelta(seconds=jobkit_settings.SWEEP_INTERVAL)
        stale = now - timedelta(seconds=jobkit_settings.RESEND_AFTER)
        due = Q(start_at__isnull=True) | Q(start_at__lte=horizon)
        unsent = Q(sent_at__isnull=True) & due
        forgotten = Q(sent_at__lt=stale) & (Q(start_at__isnull=True) | Q(start_at__lt=stale))
        using = router.db_for_write(JobRequest)
        with transaction.atomic(using=using):
            batch = list(
                JobRequest.objects.using(using)
                .select_for_update(skip_locked=True)
                .filter(unsent | forgotten)
                .order_by("-priority", "created_at")[: jobkit_settings.SWEEP_BATCH_SIZE]
            )
            known, unknown = [], []
            for request in batch:
                (known if _is_registered(request.job_class) else unknown).append(request)
            JobRequest.objects.using(using).filter(pk__in=[r.pk for r in known]).update(sent_at=now)
            for request in unknown:
                _record_unknown(request, using)
        sent = sum(dispatch.send(request) for request in known)
        return sent, len(unknown)

    def end_lost(self) -> int:
        """Record LOST the jobs of workers that stopped sending heartbeats."""
        cutoff = timezone.now() - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT)
        alive = JobWorker.objects.filter(last_seen__gte=cutoff).values_list("host", "pid")
        alive_set = set(alive)
        ended = 0
        for process in JobProcess.objects.filter(started_at__lt=cutoff).order_by("started_at")[
            : jobkit_settings.SWEEP_BATCH_SIZE
        ]:
            if (process.host, process.worker_pid) in alive_set:
                continue
            reason = f"its worker {process.worker_name or '?'} stopped sending heartbeats"
            ended += end_process(process, reason) is not None
        return ended

    def prune(self) -> tuple[int, int]:
        """Delete old results and long-gone workers, one bounded batch at a time."""
        now = timezone.now()
        cutoff = now - timedelta(seconds=jobkit_settings.RESULTS_RETENTION)
        size = jobkit_settings.SWEEP_BATCH_SIZE
        results = 0
        while True:
            pks = list(
                JobResult.objects.filter(ended_at__lt=cutoff).values_list("pk", flat=True)[:size]
            )
            if not pks:
                break
            results += JobResult.objects.filter(pk__in=pks).delete()[0]
        forget = now - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT * FORGET_WORKERS_AFTER)
        workers = JobWorker.objects.filter(last_seen__lt=forget).delete()[0]
        stale_locks = now - timedelta(days=1)
        while pks := list(
            JobLock.objects.filter(locked_at__lt=stale_locks).values_list("pk", flat=True)[:size]
        ):
            JobLock.objects.filter(pk__in=pks, locked_at__lt=stale_locks).delete()
        return results, workers


def _is_registered(job_class: str) -> bool:
    try:
        registry.job_class_for(job_class)
    except UnknownJobClass:
        return False
    return True


def _record_unknown(request: JobRequest, using: str) -> None:
    try:
        registry.job_class_for(request.job_class)
    except UnknownJobClass as exc:
        error = str(exc)
    JobResult.objects.using(using).create(
        **{name: getattr(request, name) for name in _COPIED},
        status=JobResult.Status.ERRORED,
        error=f"UnknownJobClass: {error}",
    )
    request.delete()


SWEEP_TASK_NAME = "django-jobkit: sweep"


def install_periodic_sweep(using: str = "default") -> None:
    """Create or update beat's periodic sweep (run after every migrate).

    Its messages expire after one interval, so a beat running with no worker consuming its
    queue does not pile sweeps up. A user may disable it in the admin: that is kept.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = max(1, round(jobkit_settings.SWEEP_INTERVAL))
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).update_or_create(
        name=SWEEP_TASK_NAME,
        defaults={
            "task": "django_jobkit.sweep",
            "interval": interval,
            "expires": None,
            "expire_seconds": every,
            "description": "Managed by django-jobkit: re-sends unsent jobs, sends due delayed "
            "jobs, records lost ones, prunes old results.",
        },
    )
