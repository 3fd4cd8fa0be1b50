import uuid

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from django_jobkit.events.views import staff_who_view_jobs
from django_jobkit.models import JobProcess, JobRequest, JobResult

from .jobs import FlakyPartnerSyncJob, ImportCatalogueJob, RebuildUserStatsJob, SendWelcomeEmailJob

#: The session key holding the request uuids of the jobs this browser started.
MY_JOBS = "demo_jobs"


def may_follow(request: HttpRequest, uuids: list[uuid.UUID]) -> bool:
    """`JOBKIT_EVENTS_PERMISSION`: staff as in the admin, and visitors for the jobs they
    started from this browser (a real site would check the jobs' owner instead)."""
    mine = set(request.session.get(MY_JOBS, []))
    return staff_who_view_jobs(request, uuids) or {str(u) for u in uuids} <= mine


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
        elif kind == "import":
            job = ImportCatalogueJob().run_in_worker()
            if job is not None:
                request.session[MY_JOBS] = [str(job.uuid), *request.session.get(MY_JOBS, [])][:10]
        return redirect("index")
    return render(
        request,
        "demo/index.html",
        {
            "requests": JobRequest.objects.all()[:10],
            "processes": JobProcess.objects.all()[:10],
            "results": JobResult.objects.all()[:20],
            "my_jobs": request.session.get(MY_JOBS, []),
        },
    )
