"""The media library page: upload or make a sample file, run the media jobs on it, follow
their progress live (jobkit's events stream, through `progress.js`)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from django_jobkit import registry
from django_jobkit.models import JobBatch, JobResult
from example_project.demo.views import MY_JOBS

from . import ffmpeg
from .jobs import (
    BATCHABLE,
    CleanSubtitlesJob,
    ExtractAudioJob,
    LibrarySummaryJob,
    ProbeMediaJob,
    TranscodeJob,
    TranscribeJob,
    run_over_library,
)
from .models import MediaFile

#: The job class name batches over the library end with.
SUMMARY = registry.name_for(LibrarySummaryJob)

ACTIONS = {
    "probe": ProbeMediaJob,
    "transcode": TranscodeJob,
    "audio": ExtractAudioJob,
    "transcribe": TranscribeJob,
    "clean": CleanSubtitlesJob,
}


class UploadForm(forms.ModelForm):
    class Meta:
        model = MediaFile
        fields = ["title", "file"]


def make_sample() -> MediaFile:
    """A 10 s test pattern with a spoken sentence (espeak-ng), or a tone without espeak-ng."""
    folder = MediaFile.uploads()
    name = f"sample-{uuid.uuid4().hex[:8]}"
    speech = None
    if shutil.which("espeak-ng"):
        speech = folder / f"{name}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us+f2", "-s", "140", "-w", str(speech),
             "the weather is nice today. one two three four five."],
            check=True,
        )  # fmt: skip
    clip = ffmpeg.make_test_clip(folder / f"{name}.mp4", 10, "640x360", speech)
    return MediaFile.of_file(clip, "sample clip")


def recent_batches() -> list[dict[str, Any]]:
    """The last five batches over the library, with their counts and summary when done."""
    rows = []
    for batch in JobBatch.objects.filter(then__job_class=SUMMARY)[:5]:
        summary = None
        if batch.then_root_uuid is not None:
            end = JobResult.objects.filter(
                root_uuid=batch.then_root_uuid, status=JobResult.Status.SUCCESSFUL
            ).first()
            summary = end.return_value if end is not None else None
        rows.append({"batch": batch, "counts": batch.counts(), "summary": summary})
    return rows


@require_http_methods(["GET", "POST"])
def library(request: HttpRequest) -> HttpResponse:
    form = UploadForm()
    if request.method == "POST":
        if "sample" in request.POST:
            make_sample()
            return redirect("media:library")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            form.save()
            return redirect("media:library")
    return render(
        request,
        "media/library.html",
        {
            "form": form,
            "files": MediaFile.objects.prefetch_related("outputs")[:20],
            "my_jobs": request.session.get(MY_JOBS, []),
            "batches": recent_batches(),
        },
    )


@require_http_methods(["POST"])
def run_all(request: HttpRequest, action: str) -> HttpResponse:
    """Transcode or transcribe every file of the library as one batch."""
    if action not in BATCHABLE:
        return HttpResponse(f"unknown action {action!r}", status=404)
    try:
        run_over_library(action)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400)
    return redirect("media:library")


@require_http_methods(["POST"])
def run(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    media = get_object_or_404(MediaFile, pk=pk)
    job_class = ACTIONS.get(action)
    if job_class is None:
        return HttpResponse(f"unknown action {action!r}", status=404)
    job = job_class(media).run_in_worker()
    if job is not None:
        request.session[MY_JOBS] = [str(job.uuid), *request.session.get(MY_JOBS, [])][:10]
    return redirect("media:library")
