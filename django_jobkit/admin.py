"""Plain admin pages for the three records; richer pages come with the admin work."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import JobProcess, JobRequest, JobResult

_COMMON = ("job_class", "queue", "priority", "retry_attempt", "concurrency_key")


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows are written by the engine; editing one by hand would break its invariants."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JobRequest)
class JobRequestAdmin(ReadOnlyAdmin):
    list_display = ("job_request_uuid", *_COMMON, "start_at", "created_at")
    list_filter = ("job_class", "queue")
    search_fields = ("job_request_uuid", "root_uuid", "job_class", "concurrency_key")


@admin.register(JobProcess)
class JobProcessAdmin(ReadOnlyAdmin):
    list_display = ("uuid", *_COMMON, "worker_name", "pid", "progress", "started_at")
    list_filter = ("job_class", "queue", "worker_name")
    search_fields = ("uuid", "job_request_uuid", "root_uuid", "job_class", "concurrency_key")


@admin.register(JobResult)
class JobResultAdmin(ReadOnlyAdmin):
    list_display = ("job_request_uuid", "job_class", "status", "retry_attempt", "queue", "ended_at")
    list_filter = ("status", "job_class", "queue")
    search_fields = ("uuid", "job_request_uuid", "root_uuid", "job_class", "concurrency_key")
    date_hierarchy = "ended_at"
