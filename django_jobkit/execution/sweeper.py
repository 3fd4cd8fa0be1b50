"""The sweeper: what makes "every committed job ends with a result" true when things fail.

Each step is a short transaction over a bounded batch, safe to run in several processes at
once: rows are taken with SKIP LOCKED (SQLite's IMMEDIATE transactions serialize instead),
and a request's message may at worst be sent twice, in which case the claim still runs it
once. Every worker's main process takes its turn at it (`sweep_turns`), so a live worker is
all the guarantees need; beat's periodic task and `manage.py jobkit sweep` run it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

from .. import hooks, registry
from ..conf import jobkit_settings
from ..enqueue import batches, publish
from ..exceptions import UnknownJobClass
from ..models import JobBatch, JobHold, JobLock, JobProcess, JobRequest, JobResult, JobWorker
from ..models.querysets import MessagesLost
from . import broker_probe
from .outcomes import end_process

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
    """One pass over the tables: `sweep()` runs every step, `steps()` yields between them.

    Each step handles at most `slice_size` rows (`JOBKIT_SWEEP_BATCH_SIZE` by default); a pass
    sends and ends at most `JOBKIT_SWEEP_BATCH_SIZE` of each (the rest waits for the next
    pass) and prunes until nothing is left to prune.
    """

    def __init__(self, slice_size: int | None = None) -> None:
        self.total = jobkit_settings.SWEEP_BATCH_SIZE
        self.slice_size = max(1, min(slice_size or self.total, self.total))

    def sweep(self) -> SweepReport:
        report = SweepReport()
        for _ in self.steps(report):
            pass
        return report

    def steps(self, report: SweepReport) -> Iterator[None]:
        """The pass as bounded steps, each its own transactions; `report` adds them up."""
        lost = self.lost_messages()
        yield
        for _ in self._slices():
            sent, unknown = self.send_waiting(self.slice_size, lost)
            report.sent += sent
            report.unknown += unknown
            yield
            if sent + unknown < self.slice_size:
                break
        for _ in self._slices():
            ended = self.end_lost(self.slice_size)
            report.lost += ended
            yield
            if ended < self.slice_size:
                break
        report.sent += self.admit_waiting()
        yield
        self.complete_batches()
        yield
        yield from self._prune(report)
        if report.sent or report.unknown or report.lost:
            logger.info("sweep: %s", report)

    def _slices(self) -> range:
        return range(0, self.total, self.slice_size)

    def lost_messages(self) -> MessagesLost:
        """What the broker no longer holds (see `broker_probe`): asked once per pass.

        Only the queues live workers consume are looked at: a message re-sent to a queue
        nobody consumes would wait there as the lost one did.
        """
        app = current_app._get_current_object()  # type: ignore[attr-defined]  # a Proxy
        now = timezone.now()
        cutoff = now - timedelta(seconds=jobkit_settings.MISSING_MESSAGE_AFTER)
        heard = now - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT)
        queues = sorted(JobWorker.objects.queues_consumed_since(heard))
        sizes = broker_probe.queue_sizes(app, queues) if queues else {}
        return MessagesLost(
            broker_started=broker_probe.started_at(app),
            empty_queues=tuple(queue for queue, size in sizes.items() if size == 0),
            cutoff=cutoff,
        )

    def send_waiting(
        self, limit: int | None = None, lost: MessagesLost | None = None
    ) -> tuple[int, int]:
        """Send requests whose message never left, whose delay is almost over, whose message
        the broker lost (`lost`), or whose message has gone unclaimed so long that the broker
        may have lost it; (sent, unknown classes recorded)."""
        now = timezone.now()
        horizon = now + timedelta(seconds=jobkit_settings.SWEEP_INTERVAL)
        stale = now - timedelta(seconds=jobkit_settings.RESEND_AFTER)
        with transaction.atomic(using=JobRequest.objects.primary_alias()):
            batch = JobRequest.objects.to_send(now, horizon, stale, limit or self.total, lost=lost)
            known = [r for r in batch if registry.is_registered(r.job_class)]
            unknown = [r for r in batch if not registry.is_registered(r.job_class)]
            JobRequest.objects.mark_sent([r.pk for r in known], now)
            ended = [
                JobRequest.objects.end(
                    request, JobResult.Status.ERRORED, unknown_class_error(request)
                )
                for request in unknown
            ]
            for result in ended:
                hooks.notify(result)  # at the commit below
        sent = publish.send_many(known) if known else 0
        return sent, len(unknown)

    def admit_waiting(self) -> int:
        """Give running limits' free slots to waiting jobs, and send those that got all theirs:
        the repair for a slot freed where nothing could send (a cancel) or a release missed
        (a worker killed mid-record); how many were sent."""
        admitted = JobHold.objects.repair(self.slice_size)
        return publish.send_many(admitted) if admitted else 0

    def complete_batches(self) -> int:
        """Complete the batches whose children all ended but which no record completed (a
        worker killed between the two, a child cancelled while waiting), enqueueing `then`;
        how many. Each is decided as a child's record decides it, so it cannot double."""
        done = 0
        for batch_uuid in JobBatch.objects.unfinished_without_children(self.slice_size):
            with transaction.atomic(using=JobBatch.objects.primary_alias()):
                batch = JobBatch.objects.complete_if_done(batch_uuid)
                if batch is not None:
                    batches.enqueue_then(batch)
                    done += 1
        return done

    def end_lost(self, limit: int | None = None) -> int:
        """Record LOST the jobs no heartbeat has vouched for in `JOBKIT_HEARTBEAT_TIMEOUT`.

        A worker's main process stamps the jobs of its live children at every heartbeat
        (`heartbeat.beat`), having checked each child by pid and start time; a job that goes
        unstamped has lost its worker, whatever the worker rows say.
        """
        cutoff = timezone.now() - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT)
        ended = 0
        for process in JobProcess.objects.silent_since(cutoff, limit or self.total):
            reason = f"its worker {process.worker_name or '?'} stopped sending heartbeats"
            ended += end_process(process, reason) is not None
        return ended

    def prune(self) -> tuple[int, int]:
        """Delete old results, long-gone workers and idle lock rows, in bounded batches."""
        report = SweepReport()
        for _ in self._prune(report):
            pass
        return report.pruned_results, report.pruned_workers

    def _prune(self, report: SweepReport) -> Iterator[None]:
        # Unlike sending, pruning goes on until done, a slice per step: results may expire
        # faster than one batch per pass.
        now = timezone.now()
        retention = now - timedelta(seconds=jobkit_settings.RESULTS_RETENTION)
        while deleted := JobResult.objects.prune(retention, self.slice_size):
            report.pruned_results += deleted
            yield
        forget = now - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT * FORGET_WORKERS_AFTER)
        report.pruned_workers += JobWorker.objects.prune(forget)
        while JobLock.objects.prune(now - timedelta(days=1), self.slice_size):
            yield


def unknown_class_error(request: JobRequest) -> str:
    """The error of a request whose class no longer exists (renamed or removed)."""
    try:
        registry.job_class_for(request.job_class)
    except UnknownJobClass as exc:
        return f"UnknownJobClass: {exc}"
    return ""


SWEEP_TASK_NAME = "django-jobkit: sweep"


def install_periodic_sweep(using: str = "default") -> None:
    """Create or update beat's periodic sweep (run after every migrate).

    It goes to `JOBKIT_SCHEDULE_QUEUE`, with the schedule firings, rather than to Celery's
    default queue, which workers started with `-Q` often do not consume. Its messages expire
    after one interval, so a beat running with no worker consuming its queue does not pile
    sweeps up. A user may disable it in the admin: that is kept. Workers sweep by themselves
    too (`sweep_turns`): this periodic task is an extra.
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
            "queue": jobkit_settings.SCHEDULE_QUEUE,
            "expires": None,
            "expire_seconds": every,
            "description": "Managed by django-jobkit: re-sends unsent jobs, sends due delayed "
            "jobs, records lost ones, prunes old results.",
        },
    )
