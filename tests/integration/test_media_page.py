"""The media library page: an upload becomes a media record, its buttons enqueue the media
jobs (the GPU ones on the GPU queue) and the page follows what this browser started."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from django_jobkit.models import JobRequest
from example_project.media.models import MediaFile
from tests.media import media_root  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_upload_run_and_follow(client):
    page = client.get("/media-library/")
    assert page.status_code == 200 and b"no files yet" in page.content

    upload = SimpleUploadedFile("talk.wav", b"RIFF....WAVE", content_type="audio/wav")
    assert client.post("/media-library/", {"title": "a talk", "file": upload}).status_code == 302
    media = MediaFile.objects.get()
    assert media.title == "a talk" and media.file.name.startswith("uploads/talk")

    for action in ("probe", "transcode", "audio", "transcribe"):
        assert client.post(f"/media-library/{media.pk}/{action}/").status_code == 302
    queued = dict(JobRequest.objects.values_list("job_class", "queue"))
    assert queued == {
        "example_project.media.jobs.ProbeMediaJob": "default",
        "example_project.media.jobs.TranscodeJob": settings.JOBKIT_GPU_QUEUE,
        "example_project.media.jobs.ExtractAudioJob": "default",
        "example_project.media.jobs.TranscribeJob": settings.JOBKIT_GPU_QUEUE,
    }
    page = client.get("/media-library/").content.decode()
    for request in JobRequest.objects.all():
        assert f'data-jobkit-job="{request.uuid}"' in page
    assert "a talk" in page
    assert client.post(f"/media-library/{media.pk}/explode/").status_code == 404
