"""The three records of a job's life: waiting (request), running (process), finished (result).

A request becomes a process becomes a result; `job_request_uuid` of the original request and
`root_uuid` of the first attempt travel along, so `wait()` and the admin can follow a job
through its retries.
"""

from __future__ import annotations

import signal
import time
import uuid
from typing import TYPE_CHECKING, ClassVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import hooks
from ..conf import jobkit_settings
from ..exceptions import WaitTimeout
from ..parameters import decode_arguments
from ..registry import job_class_for
from .querysets import (
    COPIED,
    JobBatchQuerySet,
    JobHoldQuerySet,
    JobLockQuerySet,
    JobProcessQuerySet,
    JobQueueQuerySet,
    JobRateStartQuerySet,
    JobRequestQuerySet,
    JobResultQuerySet,
    JobWorkerQuerySet,
)

if TYPE_CHECKING:
    from ..jobs import Job


def output_field(help_text: str) -> models.JSONField:
    """A list of the items `Job.emit` published. Nullable rather than defaulting to [] in the
    database: the one-statement claim inserts processes without naming it."""
    return models.JSONField(_("output"), null=True, blank=True, help_text=_(help_text))


def device_field() -> models.CharField:  # type: ignore[type-arg]
    """The GPU an attempt ran on: set by the claim, copied to the result when it ends."""
    return models.CharField(
        _("GPU"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text=_("The GPU its worker child owned (an index or a GPU UUID); empty: none."),
    )


class JobFields(models.Model):
    """What a job is, copied verbatim from request to process to result."""

    #: The field names above, for the PostgreSQL renderings of claim and record.
    COPIED_FIELDS: ClassVar[list[str]] = COPIED

    job_class = models.CharField(
        _("job class"), max_length=255, help_text=_("Dotted path of the registered Job class.")
    )
    parameters = models.JSONField(
        _("parameters"), default=dict, help_text=_("The job's __init__ arguments, as JSON.")
    )
    queue = models.CharField(_("queue"), max_length=255, default="default")
    priority = models.IntegerField(_("priority"), default=0, help_text=_("Higher runs first."))
    retries = models.PositiveIntegerField(
        _("retries"), default=0, help_text=_("How many times a failed run is retried.")
    )
    retry_attempt = models.PositiveIntegerField(
        _("retry attempt"), default=0, help_text=_("0 for the first run, 1 for the first retry.")
    )
    concurrency_key = models.CharField(
        _("concurrency key"),
        max_length=255,
        blank=True,
        default="",
        help_text=_("At most one pending-or-running job per job class and non-empty key."),
    )
    timeout = models.PositiveIntegerField(
        _("timeout"),
        null=True,
        blank=True,
        help_text=_("Seconds the job may run before it is stopped; empty for no limit."),
    )
    job_request_uuid = models.UUIDField(
        _("request uuid"), help_text=_("The uuid of the request this attempt came from.")
    )
    root_uuid = models.UUIDField(
        _("root uuid"), help_text=_("The uuid of the first request of the retry chain.")
    )
    created_at = models.DateTimeField(
        _("enqueued at"), default=timezone.now, help_text=_("When the request was written.")
    )
    batch_uuid = models.UUIDField(
        _("batch uuid"),
        null=True,
        blank=True,
        db_index=True,
        help_text=_("The batch (`run_batch`) this job belongs to; empty: none."),
    )
    limits = models.JSONField(
        _("limits"),
        null=True,
        blank=True,
        help_text=_(
            "The running limits the job declared ([{key, running}]): it runs only while it "
            "holds a slot of each. Empty: none."
        ),
    )

    headers = models.JSONField(
        _("headers"),
        null=True,
        blank=True,
        help_text=_(
            "Metadata that travels with the job through delays and retries, as a Celery "
            "message's headers do (a trace context, the tasks framework's task): "
            "{name: value}. Empty: none."
        ),
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.job_class} {self.job_request_uuid}"

    def load_job(self) -> Job:
        """The Job instance with its arguments rebuilt (model references fetched again)."""
        cls = job_class_for(self.job_class)
        args, kwargs = decode_arguments(self.parameters)
        return cls(*args, **kwargs)


class JobRequest(JobFields):
    """A job waiting to run: written before its Celery message is sent."""

    start_at = models.DateTimeField(
        _("start at"), null=True, blank=True, help_text=_("Not before this time (delayed jobs).")
    )
    sent_at = models.DateTimeField(
        _("sent at"),
        null=True,
        blank=True,
        help_text=_(
            "When its message was last handed to the broker; empty while it waits in the "
            "database (broker down at commit, or a long delay)."
        ),
    )

    objects = JobRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("job request")
        verbose_name_plural = _("job requests")
        ordering = ["-priority", "created_at"]
        # The admin's job actions, each granted on its own (`django_jobkit.cancel_job`, ...).
        permissions = [
            ("cancel_job", _("Can cancel waiting and running jobs")),
            ("retry_job", _("Can retry failed jobs")),
            ("run_job_now", _("Can run a delayed job now")),
            ("pause_queue", _("Can pause and resume queues")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job_request_uuid"], name="jobkit_request_uuid_uniq")
        ]
        indexes = [
            models.Index(fields=["job_class", "concurrency_key"], name="jobkit_request_key_idx"),
            models.Index(fields=["start_at"], name="jobkit_request_start_idx"),
            models.Index(fields=["sent_at"], name="jobkit_request_sent_idx"),
            # A chain's waiting attempt (`chain_live`, the detail pages, a uuid search).
            models.Index(fields=["root_uuid"], name="jobkit_request_root_idx"),
            # The admin list's order, alone and after each of its filters.
            models.Index(fields=["-priority", "created_at"], name="jobkit_request_order_idx"),
            models.Index(
                fields=["job_class", "-priority", "created_at"], name="jobkit_request_class_idx"
            ),
            models.Index(
                fields=["queue", "-priority", "created_at"], name="jobkit_request_queue_idx"
            ),
        ]

    @property
    def uuid(self) -> uuid.UUID:
        return self.job_request_uuid

    def cancel(self) -> JobResult | None:
        """Cancel a job that has not started: it never runs and gets a CANCELLED result.

        Returns None when the request is gone already (a worker claimed it: cancel its
        `JobProcess` instead, or it finished).
        """
        result = JobRequest.objects.cancel(self.job_request_uuid)
        if result is not None:
            hooks.notify(result)
        return result

    def waiting_reason(self) -> str:
        """Why this job has not started, in words: its queue is paused, it waits for a slot of
        a running limit (and which attempts hold the slots), its start time (a delay, or a
        rate limit's window) is ahead, its message has not been sent, or it waits for a
        worker. Read now, from the database."""
        now = timezone.now()
        paused = JobQueue.objects.paused_since([self.queue]).get(self.queue)
        if paused is not None:
            return f"queue {self.queue} paused since {paused:%Y-%m-%d %H:%M:%S %Z}"
        hold = JobHold.objects.waiting_of(self.job_request_uuid)
        if hold is not None:
            holders = JobHold.objects.holders(hold.key)
            held = ", ".join(f"{p.job_class} {p.job_request_uuid}" for p in holders) or "none"
            return (
                f"waiting for a slot of running limit {hold.key} (at most {hold.running} "
                f"running; held by {held})"
            )
        if self.start_at is not None and self.start_at > now:
            rated = any(limit.get("rate") for limit in self.limits or ())
            why = "its rate limit's window, or its delay" if rated else "its delay"
            return f"not before {self.start_at:%Y-%m-%d %H:%M:%S %Z} ({why})"
        if self.sent_at is None:
            return "not sent yet: the sweeper sends it"
        return f"sent to queue {self.queue}, waiting for a worker"

    def wait(self, timeout: float, *, follow_retries: bool = True) -> JobResult:
        """Block until this job has a result, polling the database with a growing pause.

        With `follow_retries` (the default) the result is that of the last attempt, as with a
        Celery task that retries itself; without it, the result of this very request.
        Raises `WaitTimeout` (a `TimeoutError`) when no result appears within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        pause = 0.01
        wanted = self.job_request_uuid
        while True:
            result = JobResult.objects.of_request(wanted)
            if result is not None:
                if not follow_retries or result.retry_job_request_uuid is None:
                    return result
                wanted = result.retry_job_request_uuid
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"{self.job_class} request {wanted} has no result after {timeout} s"
                )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, jobkit_settings.WAIT_POLL_INTERVAL)


class JobProcess(JobFields):
    """A job a worker has claimed and is running."""

    uuid = models.UUIDField(_("uuid"), default=uuid.uuid4, unique=True, editable=False)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    host = models.CharField(_("host"), max_length=255, blank=True, default="")
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    pid_start_time = models.BigIntegerField(
        _("pid start time"),
        null=True,
        blank=True,
        help_text=_(
            "When the process with this pid started, as the kernel reports it (clock ticks "
            "after boot, from /proc on Linux): a later process given the same pid is not "
            "taken for this job's."
        ),
    )
    worker_name = models.CharField(
        _("worker"), max_length=255, blank=True, default="", help_text=_("Celery worker node name.")
    )
    worker_pid = models.IntegerField(
        _("worker pid"),
        null=True,
        blank=True,
        help_text=_("The pid of the worker's main process, whose heartbeats vouch for this job."),
    )
    celery_task_id = models.CharField(_("Celery task id"), max_length=255, blank=True, default="")
    progress = models.FloatField(
        _("progress"), null=True, blank=True, help_text=_("0.0 to 1.0, when the job reports it.")
    )
    progress_message = models.CharField(
        _("progress message"), max_length=255, blank=True, default="", db_default=""
    )
    device = device_field()
    output = output_field("What the job published with `Job.emit` so far, in order.")
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        _("last heartbeat"),
        null=True,
        blank=True,
        help_text=_(
            "When its worker's main process last saw this job's process alive; empty until "
            "the first heartbeat after the claim. Silent for JOBKIT_HEARTBEAT_TIMEOUT: LOST."
        ),
    )

    objects = JobProcessQuerySet.as_manager()

    class Meta:
        verbose_name = _("job process")
        verbose_name_plural = _("job processes")
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["job_class", "concurrency_key"], name="jobkit_process_key_idx"),
            models.Index(fields=["job_request_uuid"], name="jobkit_process_request_idx"),
            models.Index(fields=["host", "worker_pid"], name="jobkit_process_worker_idx"),
            models.Index(fields=["started_at"], name="jobkit_process_started_idx"),
        ]

    def cancel(self) -> bool:
        """Stop the running job: its worker child is terminated and a CANCELLED result recorded.

        Needs the prefork pool (the default); returns False when the job already ended.
        """
        # The request is written first, so that the result is CANCELLED (not LOST) whichever
        # of the worker's revoke handler, its child check or the sweeper sees the dead child.
        task_id = JobProcess.objects.request_cancel(self.pk)
        if task_id is None:
            return False
        from celery import current_app

        current_app.control.revoke(task_id, terminate=True, signal=signal.SIGTERM.name)
        return True


class JobResult(JobFields):
    """A finished attempt. Every attempt leaves one; a retry links to the request it caused."""

    class Status(models.TextChoices):
        SUCCESSFUL = "SUCCESSFUL", _("Successful")
        ERRORED = "ERRORED", _("Errored")
        LOST = "LOST", _("Lost")
        CANCELLED = "CANCELLED", _("Cancelled")
        DEFERRED = "DEFERRED", _("Deferred")

    uuid = models.UUIDField(_("uuid"), default=uuid.uuid4, unique=True, editable=False)
    job_process_uuid = models.UUIDField(_("process uuid"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    error = models.TextField(_("error"), blank=True, default="")
    traceback = models.TextField(_("traceback"), blank=True, default="")
    error_class = models.CharField(
        _("error class"),
        max_length=255,
        blank=True,
        default="",
        help_text=_("Dotted path of the exception an ERRORED run raised; empty otherwise."),
    )
    return_value = models.JSONField(
        _("return value"), null=True, blank=True, encoder=DjangoJSONEncoder
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), default=timezone.now, db_index=True)
    host = models.CharField(_("host"), max_length=255, blank=True, default="")
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    worker_name = models.CharField(_("worker"), max_length=255, blank=True, default="")
    celery_task_id = models.CharField(_("Celery task id"), max_length=255, blank=True, default="")
    progress = models.FloatField(
        _("progress"), null=True, blank=True, help_text=_("The job's last reported progress.")
    )
    progress_message = models.CharField(
        _("progress message"), max_length=255, blank=True, default="", db_default=""
    )
    device = device_field()
    output = output_field("What the attempt published with `Job.emit`, copied from its process.")
    retry_job_request_uuid = models.UUIDField(
        _("next attempt"),
        null=True,
        blank=True,
        help_text=_("The request this attempt caused (a retry or a deferral)."),
    )

    objects = JobResultQuerySet.as_manager()

    class Meta:
        verbose_name = _("job result")
        verbose_name_plural = _("job results")
        ordering = ["-ended_at"]
        indexes = [
            models.Index(fields=["job_request_uuid"], name="jobkit_result_request_idx"),
            models.Index(fields=["root_uuid"], name="jobkit_result_root_idx"),
            # The admin list's filters, each in the list's order (latest first).
            models.Index(fields=["status", "ended_at"], name="jobkit_result_status_idx"),
            models.Index(fields=["job_class", "ended_at"], name="jobkit_result_class_idx"),
            models.Index(fields=["queue", "ended_at"], name="jobkit_result_queue_idx"),
        ]

    @property
    def duration(self) -> float | None:
        """Seconds the attempt ran, when it started at all."""
        if self.started_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def attempts(self) -> models.QuerySet[JobResult]:
        """Every result of this job's retry chain, first attempt first."""
        return JobResult.objects.chain(self.root_uuid)


class JobWorker(models.Model):
    """A live Celery worker, as its heartbeats last reported it."""

    name = models.CharField(_("name"), max_length=255, help_text=_("Celery worker node name."))
    host = models.CharField(_("host"), max_length=255)
    pid = models.IntegerField(_("pid"), help_text=_("The pid of the worker's main process."))
    queues = models.JSONField(_("queues"), default=list)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now, db_index=True)
    children = models.JSONField(
        _("children"),
        default=dict,
        blank=True,
        help_text=_(
            "What each pool child holds, by pool index: its pid, device and loaded resources "
            "(written by the children themselves)."
        ),
    )

    objects = JobWorkerQuerySet.as_manager()

    class Meta:
        verbose_name = _("worker")
        verbose_name_plural = _("workers")
        ordering = ["name"]
        # Two workers may share a node name by mistake; host and pid tell them apart.
        constraints = [models.UniqueConstraint(fields=["host", "pid"], name="jobkit_worker_uniq")]

    def __str__(self) -> str:
        return self.name


class JobLock(models.Model):
    """One row per (job class, concurrency key) recently locked, on databases without advisory
    locks.

    Enqueue takes this row's lock for the rest of its transaction, so `should_enqueue` and the
    insert are atomic against every other enqueuer of the same key. The sweeper deletes rows
    not locked for a day (per-occurrence keys of scheduled jobs would otherwise pile up).
    """

    key = models.CharField(max_length=64, primary_key=True)
    locked_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = JobLockQuerySet.as_manager()

    class Meta:
        verbose_name = _("job lock")
        verbose_name_plural = _("job locks")

    def __str__(self) -> str:
        return self.key


class JobQueue(models.Model):
    """A queue an operator has paused (and perhaps resumed since): while `paused_at` is set its
    requests wait in the database, nothing is sent to it, and a message already in flight is
    put back to wait when a worker takes it. Only queues ever paused have a row."""

    name = models.CharField(_("name"), max_length=255, unique=True)
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    paused_by = models.CharField(
        _("paused by"), max_length=150, blank=True, default="", help_text=_("Who paused it.")
    )

    objects = JobQueueQuerySet.as_manager()

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


class JobHold(models.Model):
    """A request's place in a running limit: waiting for a slot of `key`, or holding one.

    One row per (request, limit). A request is sent only once every one of its holds is held;
    the hold stays held while the attempt runs and is deleted when the attempt is recorded,
    which gives the slot to the next waiting hold of the key (priority, then age)."""

    key = models.CharField(_("key"), max_length=255)
    running = models.PositiveIntegerField(_("running"), help_text=_("The limit: at most N."))
    job_request_uuid = models.UUIDField(_("request uuid"))
    held = models.BooleanField(_("held"), default=False)
    priority = models.IntegerField(_("priority"), default=0)
    created_at = models.DateTimeField(_("enqueued at"), default=timezone.now)

    objects = JobHoldQuerySet.as_manager()

    class Meta:
        verbose_name = _("limit hold")
        verbose_name_plural = _("limit holds")
        constraints = [
            models.UniqueConstraint(fields=["job_request_uuid", "key"], name="jobkit_hold_uniq")
        ]
        indexes = [
            models.Index(
                fields=["key", "held", "-priority", "created_at"], name="jobkit_hold_next_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({'held' if self.held else 'waiting'}) {self.job_request_uuid}"


class JobBatch(models.Model):
    """Jobs enqueued together by `run_batch`, and the job to run once all of them have ended.

    The children carry the batch's uuid (`batch_uuid`) through their retries; the counts are
    read from their rows. `then` is enqueued exactly once: the child whose record leaves no
    child waiting or running stamps `completed_at` (one conditional UPDATE, a single winner)
    and enqueues it in the same transaction; the sweeper completes a batch a killed worker
    left unfinished the same way.

    Batches nest: one started by a job of batch P (`parent_uuid`) holds P open until it has
    completed, and its `then` runs as one more child of P."""

    uuid = models.UUIDField(_("uuid"), default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    total = models.PositiveIntegerField(_("total"), default=0)
    then = models.JSONField(
        _("then"),
        null=True,
        blank=True,
        help_text=_("The job to enqueue once every child has a final result (class, arguments)."),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    then_root_uuid = models.UUIDField(
        _("then's request"), null=True, blank=True, db_index=True, editable=False
    )
    parent_uuid = models.UUIDField(
        _("parent batch"),
        null=True,
        blank=True,
        db_index=True,
        editable=False,
        help_text=_(
            "The batch this one nests in: it was started by a job of that batch, which does "
            "not complete before this one has and its then job has ended."
        ),
    )

    objects = JobBatchQuerySet.as_manager()

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["completed_at"], name="jobkit_batch_done_idx")]

    def __str__(self) -> str:
        return self.name or str(self.uuid)

    def counts(self) -> dict[str, int]:
        """How many children are waiting, running, succeeded, failed (errored or lost, for
        good) and cancelled, from their rows now."""
        return JobBatch.objects.counts_of(self.uuid)

    @property
    def succeeded(self) -> int:
        return self.counts()["succeeded"]

    @property
    def failed(self) -> int:
        return self.counts()["failed"]

    @property
    def cancelled(self) -> int:
        return self.counts()["cancelled"]

    @property
    def running(self) -> int:
        return self.counts()["running"]

    @property
    def waiting(self) -> int:
        return self.counts()["waiting"]

    @property
    def done(self) -> bool:
        return self.completed_at is not None

    def wait(self, timeout: float) -> JobBatch:
        """Block until every child has a final result (the batch is completed); the batch,
        refreshed. Raises `WaitTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        pause = 0.01
        while True:
            self.refresh_from_db(fields=["completed_at", "then_root_uuid"])
            if self.completed_at is not None:
                return self
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"batch {self} is not complete after {timeout} s")
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, jobkit_settings.WAIT_POLL_INTERVAL)

    def cancel(self) -> int:
        """Cancel the waiting children and stop the running ones (each CANCELLED), in the
        batches nested in it too; how many. The batch then completes as its children's
        results are recorded, and `then` runs (the nested ones' too: they end as children)."""
        cancelled = JobRequest.objects.cancel_all(
            list(
                JobRequest.objects.primary()
                .filter(batch_uuid=self.uuid)
                .values_list("job_request_uuid", flat=True)
            ),
            "cancelled with its batch",
        )
        for result in cancelled:
            hooks.notify(result)
        stopped = sum(
            1
            for process in JobProcess.objects.primary().filter(batch_uuid=self.uuid)
            if process.cancel()
        )
        nested = sum(child.cancel() for child in JobBatch.objects.open_children(self.uuid))
        return len(cancelled) + stopped + nested


class JobRateStart(models.Model):
    """One start of a job under a rate limit: the sliding window the claim counts. Rows older
    than the longest window of their key are deleted as the key is next checked."""

    key = models.CharField(_("key"), max_length=255)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)

    objects = JobRateStartQuerySet.as_manager()

    class Meta:
        verbose_name = _("rate-limited start")
        verbose_name_plural = _("rate-limited starts")
        indexes = [models.Index(fields=["key", "started_at"], name="jobkit_rate_window_idx")]

    def __str__(self) -> str:
        return f"{self.key} at {self.started_at}"
