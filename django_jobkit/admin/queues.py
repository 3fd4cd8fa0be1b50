"""The queues page: which queues are paused, since when and by whom, and how many jobs wait in
each; pause and resume them (permission `django_jobkit.pause_queue`).

A queue gets a row here when it is first paused, from this page's requests-list action
("Pause the queues of selected requests") or `manage.py jobkit pause QUEUE`; resuming keeps
the row, so the queue can be paused again from this list. Each action goes through the
engine (`enqueue.pauses`), which also sends a resumed queue's waiting jobs, and writes a
`LogEntry` per queue.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..enqueue import pauses
from ..models import JobQueue, JobRequest
from ..timetext import absolute, relative
from .display import status_badge
from .history import log_each
from .permissions import GuardedActionsAdmin


def _who(request: HttpRequest) -> str:
    return f"admin: {request.user.get_username()}"


@admin.action(description="Pause selected queues", permissions=["pause_queue"])
def pause_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    pause_queues(modeladmin, request, list(queryset.values_list("name", flat=True)))


@admin.action(description="Resume selected queues", permissions=["pause_queue"])
def resume_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    resumed, sent, entries = [], 0, []
    for name in queryset.values_list("name", flat=True):
        changed, count = pauses.resume(name)
        sent += count
        if changed:
            resumed.append(name)
            entries.append((JobQueue.objects.get(name=name), f"Resumed; {count} job(s) sent"))
    log_each(request, entries)
    if resumed:
        modeladmin.message_user(
            request, f"Resumed {', '.join(resumed)}; {sent} waiting job(s) sent.", messages.SUCCESS
        )
    else:
        modeladmin.message_user(request, "None of them was paused.", messages.WARNING)


def pause_queues(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, names: list[str]) -> None:
    """Pause each named queue, log it on its row, and say which were paused already."""
    paused, entries = [], []
    for name in sorted(set(names)):
        if pauses.pause(name, by=_who(request)):
            paused.append(name)
            entries.append((JobQueue.objects.get(name=name), "Paused"))
    log_each(request, entries)
    if paused:
        modeladmin.message_user(
            request,
            f"Paused {', '.join(paused)}: their jobs wait until resumed (Jobs > Queues).",
            messages.SUCCESS,
        )
    if len(paused) < len(set(names)):
        modeladmin.message_user(request, "The others were paused already.", messages.WARNING)


@admin.register(JobQueue)
class JobQueueAdmin(GuardedActionsAdmin):
    list_display = ("name", "state", "waiting")
    actions = [pause_selected, resume_selected]
    search_fields = ("name",)
    fields = ("name", "state", "waiting")
    readonly_fields = ("name", "state", "waiting")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        counts = (
            JobRequest.objects.filter(queue=OuterRef("name"))
            .order_by()
            .values("queue")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                waiting_jobs=Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a queue is paused by name from the requests list or manage.py

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="state", ordering="paused_at")
    def state(self, obj: JobQueue) -> SafeString:
        if obj.paused_at is None:
            return status_badge("RUNNING", "running")
        by = format_html(" by {}", obj.paused_by) if obj.paused_by else ""
        return format_html(
            "{} since {} ({}){}",
            status_badge("PAUSED", "paused"),
            absolute(obj.paused_at),
            relative(obj.paused_at),
            by,
        )

    @admin.display(description="waiting jobs")
    def waiting(self, obj: JobQueue) -> int:
        return int(getattr(obj, "waiting_jobs", 0))
