"""The example project's page follows the imports a visitor started on the same events stream
the admin uses; the demo's permission rule lets the visitor follow only those."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from django_jobkit.models import JobRequest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_visitor_follows_the_import_they_started_and_no_other(settings):
    settings.JOBKIT_EVENTS_MAX_DURATION = 0.2
    visitor = Client()
    assert visitor.post("/", {"job": "import"}).status_code == 302
    request = JobRequest.objects.get(job_class="example_project.demo.jobs.ImportCatalogueJob")
    page = visitor.get("/").content.decode()
    events_url = reverse("django_jobkit:events")
    assert events_url == "/jobs/events/"
    assert f'data-jobkit-job="{request.uuid}" data-jobkit-events="{events_url}"' in page
    assert "django_jobkit/progress.js" in page

    response = visitor.get(events_url, {"jobs": str(request.uuid)})
    assert response.status_code == 200
    assert b'"status": "waiting"' in b"".join(response.streaming_content)
    assert Client().get(events_url, {"jobs": str(request.uuid)}).status_code == 403
