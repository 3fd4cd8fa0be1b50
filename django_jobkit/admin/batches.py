"""The batches page: each `run_batch` with its children's counts, how far it got, and its
`then` job; a batch's own page lists its children with their state.

The counts are subqueries in the list's one statement (`JobBatch.objects.with_counts`); a
batch's page reads at most `CHILDREN_SHOWN` children of each kind.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import JobBatch, JobProcess, JobRequest, JobResult
from .base import ReadOnlyAdmin, time_column
from .display import EMPTY, short_uuid, status_badge

#: How many children of each kind (waiting, running, ended) a batch's page lists.
CHILDREN_SHOWN = 50


def _link(model: str, pk: Any, text: Any) -> SafeString:
    return format_html(
        '<a href="{}">{}</a>', reverse(f"admin:django_jobkit_{model}_change", args=[pk]), text
    )


@admin.register(JobBatch)
class JobBatchAdmin(ReadOnlyAdmin):
    list_display = ("batch", "progress", "children_counts", "then_job", "created", "completed")
    search_fields = ("name", "uuid")
    fields = (
        "name",
        "uuid",
        "progress",
        "children_counts",
        "then_job",
        "created",
        "completed",
        "parent",
        "nested",
        "children",
    )
    readonly_fields = fields

    created = time_column("created_at", "created")
    completed = time_column("completed_at", "completed")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).with_counts()  # type: ignore[attr-defined]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its children would lose their batch; the rows are small

    @admin.display(description="batch", ordering="name")
    def batch(self, obj: JobBatch) -> SafeString:
        return format_html("{}<br>{}", obj.name or EMPTY, short_uuid(obj.uuid))

    @admin.display(description="progress")
    def progress(self, obj: JobBatch) -> SafeString:
        ended = obj.n_succeeded + obj.n_failed + obj.n_cancelled  # type: ignore[attr-defined]
        fraction = ended / obj.total if obj.total else 1.0
        return format_html(
            '<progress max="1" value="{}"></progress> {} of {} ended',
            f"{fraction:.3f}",
            ended,
            obj.total,
        )

    @admin.display(description="children")
    def children_counts(self, obj: Any) -> SafeString:
        parts = [
            ("SUCCESSFUL", "succeeded", obj.n_succeeded),
            ("ERRORED", "failed", obj.n_failed),
            ("CANCELLED", "cancelled", obj.n_cancelled),
            ("DEFERRED", "running", obj.n_running),
            ("PAUSED", "waiting", obj.n_waiting),
        ]
        return (
            format_html_join(
                " ", "{}", ((status_badge(s, f"{n} {label}"),) for s, label, n in parts if n)
            )
            or EMPTY
        )

    @admin.display(description="then")
    def then_job(self, obj: JobBatch) -> SafeString:
        if not obj.then:
            return EMPTY
        name = str(obj.then.get("job_class", "")).rsplit(".", 1)[-1]
        if obj.then_root_uuid is None:
            return format_html("{} ({})", name, "when every child has ended")
        url = (
            reverse("admin:django_jobkit_jobresult_changelist") + f"?root_uuid={obj.then_root_uuid}"
        )
        return format_html('{} <a href="{}">its attempts</a>', name, url)

    @admin.display(description="nested in")
    def parent(self, obj: JobBatch) -> SafeString:
        parent = JobBatch.objects.filter(uuid=obj.parent_uuid).first() if obj.parent_uuid else None
        return _link("jobbatch", parent.pk, parent) if parent is not None else EMPTY

    @admin.display(description="batches nested in it")
    def nested(self, obj: JobBatch) -> SafeString:
        rows = JobBatch.objects.filter(parent_uuid=obj.uuid).order_by("pk")[:CHILDREN_SHOWN]
        return (
            format_html_join(
                "<br>",
                "{} {}",
                (
                    (
                        status_badge("SUCCESSFUL", "completed")
                        if b.done
                        else status_badge("DEFERRED", "open"),
                        _link("jobbatch", b.pk, b),
                    )
                    for b in rows
                ),
            )
            or EMPTY
        )

    @admin.display(description="children, by state")
    def children(self, obj: JobBatch) -> SafeString:
        shown = CHILDREN_SHOWN
        waiting = JobRequest.objects.filter(batch_uuid=obj.uuid).order_by("pk")[:shown]
        running = JobProcess.objects.filter(batch_uuid=obj.uuid).order_by("pk")[:shown]
        ended = (
            JobResult.objects.filter(batch_uuid=obj.uuid)
            .order_by("-ended_at")
            .only("pk", "status", "job_class", "job_request_uuid", "error")[:shown]
        )
        rows = [
            *((status_badge("PAUSED", "waiting"), _link("jobrequest", r.pk, r)) for r in waiting),
            *((status_badge("DEFERRED", "running"), _link("jobprocess", p.pk, p)) for p in running),
            *(
                (status_badge(r.status, r.get_status_display()), _link("jobresult", r.pk, r))
                for r in ended
            ),
        ]
        if not rows:
            return EMPTY
        return format_html(
            "<table>{}</table><p>at most {} of each state, the latest ended first</p>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows),
            shown,
        )
