"""The dashboard: what waits, runs and fails now and over the last day, on one admin page.

Served under the results' admin URLs (`<admin>/django_jobkit/jobresult/dashboard/`) so that
it is part of the stock admin with no change to the project's URLs: the admin's staff login
first, then the view permission of all four job records (the page shows each of them), else
403. The Jobs section of the admin's index links to it (`app_index.html`).

Every figure comes from `models.stats`, a constant number of bounded queries. The page
refreshes itself: `dashboard.js` asks for the same URL with `?fragment=1`, which answers the
content alone, and swaps it in, pausing while the tab is hidden.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import JobResult, JobWorker, stats
from ..timetext import absolute, age, duration
from . import chart
from .display import status_badge

URL_NAME = "django_jobkit_dashboard"

#: Seconds between the page's refreshes of its own content.
REFRESH_SECONDS = 10

#: What the page reads: the view permission of each job record.
PERMISSIONS = tuple(
    f"django_jobkit.view_{model}"
    for model in ("jobresult", "jobrequest", "jobprocess", "jobworker")
)


def figures(now: Any) -> dict[str, Any]:
    """Everything the dashboard shows, as the template reads it."""
    counts = stats.status_counts(now)
    queues = stats.queues(now)
    buckets = stats.buckets(stats.hour_boundaries(now))
    workers = list(JobWorker.objects.live(now).order_by("name"))
    classes = stats.job_classes(now)
    labels = dict(JobResult.Status.choices)
    return {
        "statuses": [
            {"badge": status_badge(status, str(labels[status])), "hour": hour, "day": day}
            for status, (hour, day) in counts.items()
        ],
        "waiting": sum(q.waiting for q in queues),
        "delayed": sum(q.delayed for q in queues),
        "running": sum(q.running for q in queues),
        "queues": [
            {
                "name": q.name,
                "waiting": q.waiting,
                "delayed": q.delayed,
                "running": q.running,
                "oldest": age(q.oldest_waiting, now) if q.oldest_waiting else "",
                "oldest_at": absolute(q.oldest_waiting) if q.oldest_waiting else "",
            }
            for q in queues
        ],
        "workers": [
            {"name": w.name, "queues": ", ".join(w.queues or ()), "seen": age(w.last_seen, now)}
            for w in workers
        ],
        "chart": chart.render(buckets, "Jobs finished and failed per hour, last 24 hours"),
        "classes": [
            {
                "name": c.job_class.rpartition(".")[2],
                "path": c.job_class,
                "runs": c.runs,
                "failed": c.failed,
                "rate": f"{c.failure_rate:.1%}",
                "p50": duration(c.p50),
                "p95": duration(c.p95),
            }
            for c in classes
        ],
        "now": absolute(now),
        "sample": f"{stats.DURATION_SAMPLE:,}",
    }


class DashboardAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """For the results admin: the dashboard's URL and view."""

    def get_urls(self) -> list[URLPattern]:
        # Before the model's own URLs: their catch-all would take "dashboard/" for an object id.
        page = path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name=URL_NAME)
        return [page, *super().get_urls()]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perms(PERMISSIONS):
            raise PermissionDenied("the dashboard needs the view permission of every job record")
        context = figures(timezone.now())
        if request.GET.get("fragment"):
            return TemplateResponse(request, "admin/django_jobkit/dashboard_content.html", context)
        return TemplateResponse(
            request,
            "admin/django_jobkit/dashboard.html",
            {
                **self.admin_site.each_context(request),
                **context,
                "title": _("Jobs dashboard"),
                "opts": self.model._meta,
                "refresh_seconds": REFRESH_SECONDS,
            },
        )
