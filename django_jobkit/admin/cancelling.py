"""Deleting in the admin without losing jobs: live rows are cancelled or kept, never dropped.

A waiting request or a running process deleted by hand leaves a job with no result (the
worker finds its row gone and records nothing), and a live worker's row deleted by hand lets
the sweeper take its running jobs for lost. So on the request and process pages the delete
action cancels instead (`JobRequest.cancel()`, `JobProcess.cancel()`: a CANCELLED result),
after a confirmation page, and a single row has no delete page; a live worker's row cannot be
deleted (a stale one can). Results are history and are deleted as usual.

Cancelling needs `django_jobkit.cancel_job`, not the delete permission: the action keeps the
delete action's name, so that a delete posted by hand on these pages cancels (or, without
that permission, is refused with 403) and never drops a row. "Select all N matching" cancels
in batches, and its confirmation page posts one page's pks with `select_across`, not all N.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.text import capfirst

from ..models import JobProcess, JobRequest, JobWorker
from .history import BATCH_SIZE, log_each
from .permissions import GuardedActionsAdmin

CANCEL_CONFIRMATION = "admin/django_jobkit/cancel_selected_confirmation.html"

#: How many jobs the confirmation page lists (the rest are counted).
LISTED = 100


def cancel(obj: JobRequest | JobProcess) -> bool:
    """Cancel one waiting or running job; False when it had already ended."""
    if isinstance(obj, JobProcess):
        return obj.cancel()
    if obj.cancel() is not None:
        return True
    # A worker claimed it between the page and the click: stop that run instead.
    process = JobProcess.objects.of_request(obj.job_request_uuid)
    return process is not None and process.cancel()


@admin.action(description="Cancel selected %(verbose_name_plural)s", permissions=["cancel_job"])
def cancel_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> TemplateResponse | None:
    """A confirmation page listing the jobs, then each one cancelled."""
    opts = modeladmin.model._meta
    across = request.POST.get("select_across") == "1"
    if request.POST.get("post"):
        total = cancelled = 0
        for batch in queryset.in_pk_batches(BATCH_SIZE):  # type: ignore[attr-defined]
            entries = []
            for job in batch:
                total += 1
                if cancel(job):
                    cancelled += 1
                    entries.append((job, _logged(job)))
            log_each(request, entries)
        if cancelled:
            modeladmin.message_user(
                request, f"Cancelled {cancelled} of {total} {opts.verbose_name_plural}."
            )
        if cancelled < total:
            modeladmin.message_user(
                request, f"{total - cancelled} had already ended.", messages.WARNING
            )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Cancel {opts.verbose_name_plural}",
        "subtitle": None,
        "objects_name": str(opts.verbose_name_plural),
        "listed": queryset[:LISTED],
        "more": max(queryset.count() - LISTED, 0),
        "select_across": across,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "opts": opts,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": request.POST.get("action", "cancel_selected"),
        "media": modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, CANCEL_CONFIRMATION, context)


def _logged(job: JobRequest | JobProcess) -> str:
    if isinstance(job, JobProcess):
        return "Cancelled while running: its worker child is stopped, its result CANCELLED"
    return "Cancelled before it started: its result CANCELLED"


class LiveJobAdmin(GuardedActionsAdmin):
    """Requests and processes: the delete action cancels, and one row has no delete page."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        actions.pop("delete_selected", None)
        if self.has_cancel_job_permission(request):
            description = capfirst(f"cancel selected {self.model._meta.verbose_name_plural}")
            # Under the delete action's name, so that a delete posted by hand cancels too.
            actions["delete_selected"] = (cancel_selected, "delete_selected", description)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting one row would drop its job: the changelist's action cancels it instead.
        return obj is None and super().has_delete_permission(request)


class WorkerRowAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A live worker's row cannot be deleted (its jobs would be taken for lost); a stale one
    can, and the sweeper forgets stale ones by itself anyway."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        now = timezone.now()
        live = JobWorker.objects.live(now).filter(pk__in=[obj.pk for obj in objs])
        protected = [
            *protected,
            *(
                f"{worker} is alive (its last heartbeat {(now - worker.last_seen).seconds} s "
                "ago is within JOBKIT_HEARTBEAT_TIMEOUT): stop the worker first"
                for worker in live
            ),
        ]
        return deleted, counts, perms_needed, protected

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[JobWorker]) -> None:
        # Checked again at the delete: a worker may have come back since the page was shown.
        live = list(JobWorker.objects.live().values_list("pk", flat=True))
        queryset.exclude(pk__in=live).delete()

    def delete_model(self, request: HttpRequest, obj: JobWorker) -> None:
        self.delete_queryset(request, JobWorker.objects.filter(pk=obj.pk))
