"""A job's retry chain on its detail pages, linked both ways, and the schedule that fired it.

Every attempt carries `root_uuid` (indexed on results), so one query finds the results of the
chain; the previous attempt is the result whose `retry_job_request_uuid` is this request, the
next one the row (result, running process or waiting request) of this result's
`retry_job_request_uuid`. No index on `retry_job_request_uuid` is needed: the chain read by
`root_uuid` holds both ends.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import JobProcess, JobRequest, JobResult
from ..scheduling.firings import firing_of, periodic_tasks_of
from ..timetext import absolute
from .display import EMPTY, short_uuid, status_badge

AttemptRow = JobRequest | JobProcess | JobResult


def change_url(obj: AttemptRow) -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])


def chain_list_url(root_uuid: Any) -> str:
    return reverse("admin:django_jobkit_jobresult_changelist") + f"?root_uuid={root_uuid}"


def _label(obj: AttemptRow) -> SafeString:
    n = obj.retry_attempt + 1
    if isinstance(obj, JobResult):
        state = status_badge(obj.status, obj.get_status_display())
    elif isinstance(obj, JobProcess):
        state = format_html("{}", "running")
    else:
        state = format_html("{}", "waiting")
    return format_html(
        '<a href="{}">attempt {} of {}</a> {} {}',
        change_url(obj),
        n,
        obj.retries + 1,
        state,
        short_uuid(obj.job_request_uuid),
    )


def attempt_of_request(request_uuid: Any, results: list[JobResult]) -> AttemptRow | None:
    """The row of one attempt, wherever it is in its life: result, process or request."""
    for result in results:
        if result.job_request_uuid == request_uuid:
            return result
    return (
        JobProcess.objects.filter(job_request_uuid=request_uuid).first()
        or JobRequest.objects.filter(job_request_uuid=request_uuid).first()
    )


def previous_attempt(obj: AttemptRow, results: list[JobResult]) -> JobResult | None:
    for result in results:
        if result.retry_job_request_uuid == obj.job_request_uuid:
            return result
    return None


def chain_results(obj: AttemptRow) -> list[JobResult]:
    """The results of `obj`'s chain, first attempt first (one query on the root index)."""
    return list(JobResult.objects.filter(root_uuid=obj.root_uuid).order_by("retry_attempt"))


def neighbours(obj: AttemptRow) -> SafeString:
    """The previous attempt and the next one, each linked."""
    results = chain_results(obj)
    previous = previous_attempt(obj, results)
    following = None
    if isinstance(obj, JobResult) and obj.retry_job_request_uuid is not None:
        following = attempt_of_request(obj.retry_job_request_uuid, results)
    rows = [
        ("previous", _label(previous) if previous else EMPTY),
        ("next", _label(following) if following else _no_next(obj)),
    ]
    return format_html_join("", "<div>{}: {}</div>", rows)


def _no_next(obj: AttemptRow) -> SafeString:
    if isinstance(obj, JobResult) and obj.retry_job_request_uuid is not None:
        return format_html("{} (gone: pruned or deleted)", short_uuid(obj.retry_job_request_uuid))
    return format_html("{}", "none (final)" if isinstance(obj, JobResult) else "-")


def all_attempts(obj: AttemptRow) -> SafeString:
    """Every attempt of the chain, each linked, this one in bold, and the filtered list."""
    results = chain_results(obj)
    rows = [
        (
            format_html("<strong>{}</strong>", _label(r))
            if r.pk == obj.pk and isinstance(obj, JobResult)
            else _label(r),
        )
        for r in results
    ]
    if not isinstance(obj, JobResult):
        rows.append((format_html("<strong>{}</strong>", _label(obj)),))
    return format_html(
        '{}<div><a href="{}">all attempts in the results list</a></div>',
        format_html_join("", "<div>{}</div>", rows),
        chain_list_url(obj.root_uuid),
    )


def fired_by(obj: AttemptRow) -> SafeString:
    """The django-celery-beat periodic task whose occurrence enqueued this job, linked."""
    firing = firing_of(obj.job_class, obj.concurrency_key)
    if firing is None:
        return format_html("{}", "not fired by a schedule")
    if not apps.is_installed("django_celery_beat"):
        return format_html(
            "schedule {} (occurrence {})", firing.schedule, absolute(firing.occurrence)
        )
    from django_celery_beat.models import PeriodicTask

    if not admin.site.is_registered(PeriodicTask):
        return format_html(
            "schedule {} (occurrence {})", firing.schedule, absolute(firing.occurrence)
        )
    tasks = periodic_tasks_of(firing)
    links = format_html_join(
        ", ",
        '<a href="{}">{}</a>',
        (
            (reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]), task.name)
            for task in tasks
        ),
    )
    return format_html(
        "{} (occurrence {})",
        links or format_html("schedule {}: its periodic task is gone", firing.schedule),
        absolute(firing.occurrence),
    )
