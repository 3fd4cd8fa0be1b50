"""The processes list: what runs now, where, for how long, and how far it got (a live bar)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import JobProcess
from ..timetext import age
from .base import time_column
from .cancelling import LiveJobAdmin
from .display import EMPTY, clipped, timestamp
from .filters import JobClassFilter, QueueFilter, WorkerNameFilter
from .job_fields import CHAIN_FIELDS, JOB_FIELDS, JOB_READONLY, JobFieldsAdmin
from .progress import ProgressAdmin


@admin.register(JobProcess)
class JobProcessAdmin(ProgressAdmin, LiveJobAdmin, JobFieldsAdmin):
    # Paired in columns (queue over attempt, worker over pid, running time over start) to
    # leave room at 1,366 px for the progress column.
    list_display = ("request", "queue_column", "worker", "progress_bar", "running_column")
    list_filter = (JobClassFilter, QueueFilter, WorkerNameFilter)
    search_fields = ("uuid", "job_request_uuid", "root_uuid", "job_class", "concurrency_key")
    fieldsets = (
        (None, {"fields": ("uuid", *JOB_FIELDS)}),
        ("Progress", {"fields": ("progress_bar", "output_live")}),
        ("Arguments", {"fields": ("parameters_pretty",)}),
        (
            "Times",
            {"fields": ("created", "started", "running_for", "heartbeat", "cancel_requested")},
        ),
        (
            "Where it runs",
            {"fields": ("worker_name", "host", "pid", "worker_pid", "device", "celery_task_id")},
        ),
        ("Retry chain", {"fields": CHAIN_FIELDS}),
    )
    readonly_fields = (
        *JOB_READONLY,
        "progress_bar",
        "output_live",
        "started",
        "running_for",
        "heartbeat",
        "cancel_requested",
    )

    started = time_column("started_at", "started")
    heartbeat = time_column("heartbeat_at", "last heartbeat")
    cancel_requested = time_column("cancel_requested_at", "cancel requested")

    @admin.display(description="worker", ordering="worker_name")
    def worker(self, obj: JobProcess) -> SafeString:
        name = clipped(obj.worker_name, "8em") if obj.worker_name else EMPTY
        pid = obj.pid if obj.pid is not None else "-"
        if obj.device:
            return format_html(
                "{}<br>pid {} &middot; GPU {}", name, pid, clipped(obj.device, "5em")
            )
        return format_html("{}<br>pid {}", name, pid)

    @admin.display(description="running for", ordering="started_at")
    def running_for(self, obj: JobProcess) -> str:
        return age(obj.started_at)

    @admin.display(description="running for", ordering="started_at")
    def running_column(self, obj: JobProcess) -> SafeString:
        return format_html(
            "<strong>{}</strong><br>{}", self.running_for(obj), timestamp(obj.started_at)
        )

    @admin.display(description="queue", ordering="queue")
    def queue_column(self, obj: JobProcess) -> SafeString:
        return format_html(
            '{}<br><span style="white-space:nowrap">attempt {}</span>',
            clipped(obj.queue, "8em"),
            self.attempt(obj),
        )
