"""The results list and page: what happened to each attempt, readable at a glance.

The list answers "did it work, will it be tried again, what broke, where and how long it
took" in columns narrow enough for a 1,366 px screen; the page shows the arguments and return
value as indented JSON, the traceback with its indentation, and the attempts before and after.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import JobResult
from ..timetext import duration
from . import chain
from .actions import ResultActionsAdmin
from .base import time_column
from .dashboard import DashboardAdmin
from .display import EMPTY, clipped, error_cell, preformatted, status_badge
from .filters import ErrorClassFilter, JobClassFilter, QueueFilter, RetryChainFilter
from .job_fields import CHAIN_FIELDS, JOB_FIELDS, JOB_READONLY, JobFieldsAdmin
from .json_view import pretty
from .search import BoundedSearchMixin

#: Failed attempts that may have a next one: with one recorded, the job will be tried again.
RETRYABLE = (JobResult.Status.ERRORED, JobResult.Status.LOST)


def outcome(result: JobResult) -> str:
    """ "will retry" for a failed attempt whose next attempt is recorded, "final" for a
    failed one without; "" for the others (a success or a cancel is final by nature)."""
    if result.status in RETRYABLE:
        return "will retry" if result.retry_job_request_uuid else "final"
    if result.status == JobResult.Status.DEFERRED:
        return "deferred"
    return ""


@admin.register(JobResult)
class JobResultAdmin(DashboardAdmin, BoundedSearchMixin, ResultActionsAdmin, JobFieldsAdmin):
    # Stacked in pairs (request over job class, status over attempt, worker over duration)
    # to fit 1,366 px beside the admin's two sidebars.
    list_display = ("request", "status_column", "error_column", "worker_column", "ended")
    list_filter = (RetryChainFilter, "status", ErrorClassFilter, JobClassFilter, QueueFilter)
    search_fields = ("error", "parameters", "job_class", "concurrency_key", "job_request_uuid")
    fieldsets = (
        (None, {"fields": ("uuid", "status_column", *JOB_FIELDS)}),
        (
            "Arguments and outcome",
            {
                "fields": (
                    "parameters_pretty",
                    "return_value_pretty",
                    "progress",
                    "progress_message",
                    "output_pretty",
                )
            },
        ),
        ("Error", {"fields": ("error_pre", "traceback_pre")}),
        ("Times", {"fields": ("created", "started", "ended", "duration_column")}),
        (
            "Where it ran",
            {
                "fields": (
                    "worker_name",
                    "host",
                    "pid",
                    "device",
                    "celery_task_id",
                    "job_process_uuid",
                )
            },
        ),
        ("Retry chain", {"fields": CHAIN_FIELDS}),
    )
    readonly_fields = (
        *JOB_READONLY,
        "status_column",
        "return_value_pretty",
        "output_pretty",
        "error_pre",
        "traceback_pre",
        "started",
        "ended",
        "duration_column",
    )

    ended = time_column("ended_at", "ended")
    started = time_column("started_at", "started")

    @admin.display(description="status", ordering="status")
    def status_column(self, obj: JobResult) -> SafeString:
        """The badge, "will retry" or "final", and the attempt linked to all attempts."""
        then = outcome(obj)
        return format_html(
            '{}{}<br><a href="{}" title="all attempts of this job" style="white-space:nowrap">'
            "attempt {}</a>",
            status_badge(obj.status, obj.get_status_display()),
            format_html('<br><small style="white-space:nowrap">{}</small>', then) if then else "",
            chain.chain_list_url(obj.root_uuid),
            self.attempt(obj),
        )

    @admin.display(description="worker", ordering="worker_name")
    def worker_column(self, obj: JobResult) -> SafeString:
        return format_html(
            "{}<br>{}",
            clipped(obj.worker_name, "8em") if obj.worker_name else EMPTY,
            duration(obj.duration),
        )

    @admin.display(description="error")
    def error_column(self, obj: JobResult) -> SafeString:
        return error_cell(obj.error)

    @admin.display(description="duration")
    def duration_column(self, obj: JobResult) -> str:
        return duration(obj.duration)

    @admin.display(description="return value")
    def return_value_pretty(self, obj: JobResult) -> SafeString:
        return pretty(obj.return_value, self.admin_site)

    @admin.display(description="output (emitted)")
    def output_pretty(self, obj: JobResult) -> SafeString:
        return pretty(obj.output, self.admin_site) if obj.output else EMPTY

    @admin.display(description="error")
    def error_pre(self, obj: JobResult) -> SafeString:
        return preformatted(obj.error)

    @admin.display(description="traceback")
    def traceback_pre(self, obj: JobResult) -> SafeString:
        return preformatted(obj.traceback)
