"""The workers list: which queues each consumes, whether it is alive, how many jobs it runs.

Alive means heard from within JOBKIT_HEARTBEAT_TIMEOUT (`JobWorker.objects.live`), the rule
that keeps a worker's row from being deleted; the running jobs are counted in the list's own
query (one subquery), not one query per worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ..conf import jobkit_settings
from ..models import JobWorker
from .base import ReadOnlyAdmin, time_column
from .cancelling import WorkerRowAdmin
from .display import EMPTY


def is_alive(worker: JobWorker) -> bool:
    """`JobWorker.objects.live()`'s rule, applied to a row already read."""
    cutoff = timezone.now() - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT)
    return worker.last_seen >= cutoff


@admin.register(JobWorker)
class JobWorkerAdmin(WorkerRowAdmin, ReadOnlyAdmin):
    # Host over pid in one column, to leave room at 1,366 px for the children's column.
    list_display = (
        "name",
        "state",
        "queue_list",
        "jobs_running",
        "children_held",
        "where",
        "started",
        "seen",
    )
    search_fields = ("name", "host")
    fields = (
        "name",
        "state",
        "queue_list",
        "jobs_running",
        "children_held",
        "host",
        "pid",
        "started",
        "seen",
    )
    readonly_fields = ("state", "queue_list", "jobs_running", "children_held", "started", "seen")

    started = time_column("started_at", "started")
    seen = time_column("last_seen", "last seen")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).with_running_jobs()  # type: ignore[attr-defined]

    @admin.display(description="state", ordering="last_seen")
    def state(self, obj: JobWorker) -> SafeString:
        if is_alive(obj):
            return format_html('<span style="color:#2e7d32;font-weight:bold">{}</span>', "alive")
        return format_html(
            '<span style="color:#c62828" title="not heard from within '
            'JOBKIT_HEARTBEAT_TIMEOUT">{}</span>',
            "stale",
        )

    @admin.display(description="queues")
    def queue_list(self, obj: JobWorker) -> SafeString:
        queues = obj.queues if isinstance(obj.queues, list) else []
        return format_html_join(", ", "{}", ((str(q),) for q in queues)) or EMPTY

    @admin.display(description="jobs running", ordering="running_jobs")
    def jobs_running(self, obj: JobWorker) -> int:
        return int(getattr(obj, "running_jobs", 0))

    @admin.display(description="children")
    def children_held(self, obj: JobWorker) -> SafeString:
        """Each child's device and warm resources (`JobWorker.children`)."""
        return children_summary(obj.children)

    @admin.display(description="host / pid", ordering="host")
    def where(self, obj: JobWorker) -> SafeString:
        return format_html("{}<br>pid {}", obj.host, obj.pid)


def children_summary(children: Any) -> SafeString:
    """One line per child that reported (`JobWorker.children`): pid, GPU, what it holds."""
    if not isinstance(children, dict) or not children:
        return EMPTY
    lines = []
    for index in sorted(children, key=lambda i: int(i) if str(i).isdigit() else 0):
        entry = children[index] if isinstance(children[index], dict) else {}
        held = entry.get("resources")
        held = held if isinstance(held, list) else []
        resources = ", ".join(
            f"{r.get('key')} ({r.get('hits', 0)} reuses)" for r in held if isinstance(r, dict)
        )
        device = f" · GPU {entry['device']}" if entry.get("device") else ""
        lines.append((index, entry.get("pid", "?"), device, resources or "no resources loaded"))
    return format_html_join(mark_safe("<br>"), "#{} pid {}{} · {}", lines)
