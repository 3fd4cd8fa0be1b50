"""The admin's job actions on results and requests: retry failed jobs, run delayed ones now.

Each is behind its own permission (`permissions`) and writes a `LogEntry` per job
(`history`). Both act through the engine (`execution.manual`): the admin never writes a
request itself. "Select all N matching" hands an action the filtered queryset, which it
walks in batches of `history.BATCH_SIZE` rows, so the form posts one page's pks and no
action holds every row in memory. Cancelling is the delete action's (`cancelling`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ..execution import manual
from ..execution.manual import Retried
from ..models import JobResult
from .history import BATCH_SIZE, log_each
from .permissions import GuardedActionsAdmin

#: How many new attempts the message after a retry names (each linked to its chain).
NAMED = 5


def chain_url(root_uuid: Any) -> str:
    return reverse("admin:django_jobkit_jobresult_changelist") + f"?root_uuid={root_uuid}"


@admin.action(description="Retry selected failed results", permissions=["retry_job"])
def retry_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Each failed result's job enqueued again as the next attempt of its chain."""
    counts: Counter[Retried] = Counter()
    enqueued: list[manual.RetryOutcome] = []  # the first NAMED, for the message
    refused: list[str] = []  # the first NAMED
    failed = queryset.filter(status__in=manual.RETRYABLE)
    for batch in failed.in_pk_batches(BATCH_SIZE):  # type: ignore[attr-defined]
        entries = []
        for result in batch:
            outcome = manual.retry(result)
            counts[outcome.status] += 1
            if outcome.request is not None:
                if len(enqueued) < NAMED:
                    enqueued.append(outcome)
                entries.append(
                    (
                        result,
                        f"Retried: attempt {outcome.request.retry_attempt} enqueued as "
                        f"request {outcome.request.job_request_uuid}",
                    )
                )
            elif outcome.status is Retried.REFUSED and len(refused) < NAMED:
                refused.append(f"{result}: {outcome.reason}")
        log_each(request, entries)
    retried = counts[Retried.ENQUEUED]
    if retried:
        named = format_html_join(
            ", ",
            '{} as request {} (attempt {}, <a href="{}">all attempts</a>)',
            (
                (
                    o.request.job_class,
                    o.request.job_request_uuid,
                    o.request.retry_attempt,
                    chain_url(o.request.root_uuid),
                )
                for o in enqueued
                if o.request is not None
            ),
        )
        more = f" and {retried - NAMED} more" if retried > NAMED else ""
        modeladmin.message_user(
            request,
            format_html(
                "Retried {} {}: {}{}.",
                retried,
                model_ngettext(modeladmin.opts, retried),
                named,
                more,
            ),
        )
    not_failed = queryset.exclude(status__in=manual.RETRYABLE).count()
    if not_failed:
        modeladmin.message_user(
            request,
            f"{not_failed} did not fail (successful or deferred): not retried.",
            messages.WARNING,
        )
    for status, why in (
        (Retried.CHAIN_LIVE, "a later attempt of the same job waits or runs"),
        (Retried.CHAIN_SUCCEEDED, "a later attempt of the same job succeeded"),
        (Retried.ALREADY_RETRIED, "the job was retried already"),
        (
            Retried.DEDUPLICATED,
            "its concurrency key is held: another job of that class and key waits or runs "
            "(retry it once that one has ended)",
        ),
    ):
        if counts[status]:
            modeladmin.message_user(
                request, f"{counts[status]} not retried: {why}.", messages.WARNING
            )
    for line in refused:
        modeladmin.message_user(request, f"Not retried: {line}", messages.ERROR)
    if counts[Retried.REFUSED] > len(refused):
        modeladmin.message_user(
            request,
            f"{counts[Retried.REFUSED] - len(refused)} more not retried for such errors.",
            messages.ERROR,
        )


@admin.action(description="Run selected delayed requests now", permissions=["run_job_now"])
def run_now_selected(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]
) -> None:
    """Each delayed request's start time cleared and its message sent now."""
    started = 0
    delayed = queryset.filter(start_at__isnull=False)
    for batch in delayed.in_pk_batches(BATCH_SIZE):  # type: ignore[attr-defined]
        entries = []
        for job_request in batch:
            if manual.run_now(job_request) is not None:
                started += 1
                entries.append((job_request, "Run now: start time cleared, message sent"))
        log_each(request, entries)
    if started:
        noun = model_ngettext(modeladmin.opts, started)
        modeladmin.message_user(request, f"Sent {started} delayed {noun} to run now.")
    skipped = queryset.count() - started
    if skipped:
        modeladmin.message_user(
            request,
            f"{skipped} were not delayed, or a worker had claimed them meanwhile: "
            "left as they were.",
            messages.WARNING,
        )


class ResultActionsAdmin(GuardedActionsAdmin):
    """Results: the retry action, and a Retry button on a failed result's own page."""

    actions = [retry_selected]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        if request.GET.get("status__exact") == JobResult.Status.SUCCESSFUL:
            actions.pop("retry_selected", None)  # nothing on this page could be retried
        return actions

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if (
            obj is not None
            and obj.status in manual.RETRYABLE
            and self.has_retry_job_permission(request)
        ):
            # The button posts the changelist's own action for this one row.
            context["jobkit_retry_url"] = reverse("admin:django_jobkit_jobresult_changelist")
        return super().render_change_form(request, context, add, change, form_url, obj)


class RequestActionsAdmin(GuardedActionsAdmin):
    """Requests: the run-now action (cancelling comes with `cancelling.LiveJobAdmin`)."""

    actions = [run_now_selected]
