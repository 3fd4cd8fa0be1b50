from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from django_jobkit.models import JobProcess, JobRequest, JobResult

from .jobs import FlakyPartnerSyncJob, RebuildUserStatsJob, SendWelcomeEmailJob


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """Buttons that enqueue jobs from a view, and the latest records of each kind."""
    if request.method == "POST":
        user = User.objects.order_by("pk").first() or User.objects.create(username="visitor")
        kind = request.POST.get("job")
        if kind == "welcome":
            SendWelcomeEmailJob(user).run_in_worker()
        elif kind == "flaky":
            FlakyPartnerSyncJob().run_in_worker()
        elif kind == "stats":
            RebuildUserStatsJob(user).run_in_worker()  # None while one is already queued
        return redirect("index")
    return render(
        request,
        "demo/index.html",
        {
            "requests": JobRequest.objects.all()[:10],
            "processes": JobProcess.objects.all()[:10],
            "results": JobResult.objects.all()[:20],
        },
    )
