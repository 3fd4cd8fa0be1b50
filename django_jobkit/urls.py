"""URLs a project includes to let its own pages follow jobs:
`path("jobs/", include("django_jobkit.urls"))` serves the events stream at `jobs/events/`."""

from __future__ import annotations

from django.urls import path

from .events.views import events

app_name = "django_jobkit"

urlpatterns = [path("events/", events, name="events")]
