"""The media library page: upload or make a sample file, run the media jobs on it, follow
their progress live (jobkit's events stream, through `progress.js`)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from example_project.demo.views import MY_JOBS

from .jobs import CleanSubtitlesJob, ExtractAudioJob, ProbeMediaJob, TranscodeJob, TranscribeJob
from .models import MediaFile

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
    """A 10 s test pattern with a spoken sentence (espeak-ng) or a tone, made by ffmpeg."""
    folder = Path(settings.MEDIA_ROOT) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"sample-{uuid.uuid4().hex[:8]}.mp4"
    audio = ["-f", "lavfi", "-i", "sine=frequency=440:duration=10"]
    if shutil.which("espeak-ng"):
        speech = folder / f"{name}.wav"
        subprocess.run(
            ["espeak-ng", "-v", "en-us+f2", "-s", "140", "-w", str(speech),
             "the weather is nice today. one two three four five."],
            check=True,
        )  # fmt: skip
        audio = ["-i", str(speech)]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=duration=10:size=640x360:rate=25", *audio, "-af", "apad", "-t", "10",
         "-c:v", "mpeg4", "-q:v", "5", "-c:a", "aac", str(folder / name)],
        check=True,
    )  # fmt: skip
    return MediaFile.objects.create(title="sample clip", file=f"uploads/{name}")


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
        },
    )


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
