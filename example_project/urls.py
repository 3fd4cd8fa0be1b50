from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from .demo import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("jobs/", include("django_jobkit.urls")),  # the events stream: /jobs/events/?jobs=...
    path("media-library/", include("example_project.media.urls")),
    *static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT),  # uploads and outputs (DEBUG)
]
