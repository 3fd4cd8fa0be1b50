"""The requests list: how long each job has waited, and why it is still waiting.

A request of a paused queue waits for the resume (its queue's row says since when); one over a
running limit for a slot of its key (its `JobHold` rows). Otherwise it waits for one of three
reasons the row itself tells: its delay is not over
(`start_at`), its message never reached the broker (`sent_at` empty: the broker was down at
commit, or a long delay just ended; the sweeper sends it), or it was sent and no worker of its
queue has taken it yet. A job of the same class and concurrency key running now is shown too:
jobkit's dedup refuses a second such job at enqueue time rather than holding it, so a request
beside a running one of its key was let in by the job's own `should_enqueue` (or is a retry).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import JobHold, JobProcess, JobRequest
from ..timetext import absolute, age, relative
from .actions import RequestActionsAdmin
from .base import time_column
from .cancelling import LiveJobAdmin
from .display import EMPTY, clipped
from .filters import JobClassFilter, QueueFilter
from .job_fields import CHAIN_FIELDS, JOB_FIELDS, JOB_READONLY, JobFieldsAdmin
from .queues import pause_queues
from .search import NewestSearchMixin


def waiting_reason(
    request: JobRequest, now: datetime | None = None, paused_since: datetime | None = None
) -> SafeString:
    """Why the job has not started, in words, from the row (and its queue's pause)."""
    now = now or timezone.now()
    if paused_since is not None:
        reason = format_html(
            "queue {} paused since {} ({}): sent when it is resumed",
            request.queue,
            absolute(paused_since),
            relative(paused_since, now),
        )
    elif request.start_at is not None and request.start_at > now:
        rated = any(limit.get("rate") for limit in request.limits or ())
        reason = format_html(
            "{} until {} ({})",
            "delayed, or its rate limit's window full," if rated else "delayed",
            absolute(request.start_at),
            relative(request.start_at, now),
        )
    elif request.sent_at is None:
        reason = format_html(
            "{}",
            "not sent yet (broker down at commit, or its delay just ended): the sweeper sends it",
        )
    else:
        reason = format_html(
            "sent {} to queue {}, waiting for a worker",
            relative(request.sent_at, now),
            request.queue,
        )
    slot_key = getattr(request, "slot_waiting_key", None)
    if slot_key is not None and paused_since is None:
        reason = format_html(
            "waiting for a slot of running limit {} (at most {} running): sent when one ends",
            slot_key,
            getattr(request, "slot_waiting_running", "?"),
        )
    if getattr(request, "key_running", False):
        reason = format_html(
            '{}<br><small title="concurrency key {}">another job of its concurrency key is '
            "running</small>",
            reason,
            request.concurrency_key,
        )
    return format_html(
        '<span style="display:block;min-width:10em;overflow-wrap:anywhere">{}</span>', reason
    )


@admin.action(description="Pause the queues of selected requests", permissions=["pause_queue"])
def pause_queues_of_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    names = set(queryset.order_by().values_list("queue", flat=True).distinct())
    pause_queues(modeladmin, request, sorted(names))


@admin.register(JobRequest)
class JobRequestAdmin(NewestSearchMixin, LiveJobAdmin, RequestActionsAdmin, JobFieldsAdmin):
    list_display = ("request", "queue_column", "attempt_and_key", "waited", "why_waiting")
    list_filter = (JobClassFilter, QueueFilter)
    actions = [*RequestActionsAdmin.actions, pause_queues_of_selected]
    search_fields = ("job_request_uuid", "job_class", "concurrency_key")
    fieldsets = (
        (None, {"fields": (*JOB_FIELDS, "why_waiting", "slot_holders")}),
        ("Arguments", {"fields": ("parameters_pretty",)}),
        ("Times", {"fields": ("created", "start", "sent")}),
        ("Retry chain", {"fields": CHAIN_FIELDS}),
    )
    readonly_fields = (*JOB_READONLY, "why_waiting", "slot_holders", "start", "sent")

    start = time_column("start_at", "start at")
    sent = time_column("sent_at", "sent at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        rows = super().get_queryset(request).with_key_running()  # type: ignore[attr-defined]
        return rows.with_queue_paused_at().with_slot_waiting()

    @admin.display(description="queue", ordering="queue")
    def queue_column(self, obj: JobRequest) -> SafeString:
        return format_html(
            '{}<br><span style="white-space:nowrap">priority {}</span>',
            clipped(obj.queue, "8em"),
            obj.priority,
        )

    @admin.display(description="attempt, key", ordering="concurrency_key")
    def attempt_and_key(self, obj: JobRequest) -> SafeString:
        key = clipped(obj.concurrency_key, "8em") if obj.concurrency_key else EMPTY
        return format_html(
            '<span style="white-space:nowrap">{}</span><br>{}', self.attempt(obj), key
        )

    @admin.display(description="age", ordering="created_at")
    def waited(self, obj: JobRequest) -> str:
        return age(obj.created_at)

    @admin.display(description="why waiting")
    def why_waiting(self, obj: JobRequest) -> SafeString:
        return waiting_reason(obj, paused_since=getattr(obj, "queue_paused_at", None))

    @admin.display(description="slots held by")
    def slot_holders(self, obj: JobRequest) -> SafeString:
        """On the request's page only (a few queries): which attempts hold the slots of the
        running limit it waits for, each linked to its page."""
        hold = JobHold.objects.waiting_of(obj.job_request_uuid)
        if hold is None:
            return EMPTY
        holders = JobHold.objects.holders(hold.key)
        rows = (
            (
                reverse(
                    "admin:django_jobkit_jobprocess_change"
                    if isinstance(holder, JobProcess)
                    else "admin:django_jobkit_jobrequest_change",
                    args=[holder.pk],
                ),
                holder.job_class.rsplit(".", 1)[-1],
                "running" if isinstance(holder, JobProcess) else "sent, not started",
                holder.job_request_uuid,
            )
            for holder in holders
        )
        return format_html(
            "{} ({} of at most {}):<br>{}",
            hold.key,
            len(holders),
            hold.running,
            format_html_join("<br>", '<a href="{}">{}</a> {} <small>{}</small>', rows) or EMPTY,
        )
