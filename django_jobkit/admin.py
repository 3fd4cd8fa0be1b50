"""Admin pages for the records; rows are written by the engine, so they are read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import JobProcess, JobRequest, JobResult, JobWorker

_COMMON = ("job_class", "queue", "priority", "retry_attempt", "concurrency_key")


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Editing a row by hand would break the engine's invariants; deleting one is allowed."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _chain_link(obj: Any) -> str:
    url = reverse("admin:django_jobkit_jobresult_changelist") + f"?root_uuid={obj.root_uuid}"
    return format_html('<a href="{}">all attempts</a>', url)


@admin.register(JobRequest)
class JobRequestAdmin(ReadOnlyAdmin):
    list_display = ("job_request_uuid", *_COMMON, "start_at", "sent_at", "created_at")
    list_filter = ("job_class", "queue")
    search_fields = ("job_request_uuid", "root_uuid", "job_class", "concurrency_key")


@admin.register(JobProcess)
class JobProcessAdmin(ReadOnlyAdmin):
    list_display = ("uuid", *_COMMON, "worker_name", "pid", "progress", "started_at")
    list_filter = ("job_class", "queue", "worker_name")
    search_fields = ("uuid", "job_request_uuid", "root_uuid", "job_class", "concurrency_key")


@admin.register(JobResult)
class JobResultAdmin(ReadOnlyAdmin):
    list_display = (
        "job_request_uuid",
        "job_class",
        "status",
        "retry_attempt",
        "queue",
        "ended_at",
        "chain",
    )
    list_filter = ("status", "job_class", "queue")
    search_fields = ("uuid", "job_request_uuid", "root_uuid", "job_class", "concurrency_key")
    date_hierarchy = "ended_at"
    readonly_fields = ("attempts",)

    @admin.display(description="retry chain")
    def chain(self, obj: JobResult) -> str:
        return _chain_link(obj)

    @admin.display(description="attempts of this job")
    def attempts(self, obj: JobResult) -> str:
        """Every attempt from the first request on, each linked, this one in bold."""
        rows = [
            (
                reverse("admin:django_jobkit_jobresult_change", args=[attempt.pk]),
                attempt.retry_attempt,
                attempt.status,
                "font-weight:bold" if attempt.pk == obj.pk else "",
            )
            for attempt in obj.attempts()
        ]
        return format_html_join(
            "",
            '<div><a href="{0}" style="{3}">attempt {1}: {2}</a></div>',
            ((url, n, status, style) for url, n, status, style in rows),
        )


@admin.register(JobWorker)
class JobWorkerAdmin(ReadOnlyAdmin):
    list_display = ("name", "host", "pid", "queues", "started_at", "last_seen")
    search_fields = ("name", "host")
