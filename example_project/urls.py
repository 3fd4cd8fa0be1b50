from django.contrib import admin
from django.urls import include, path

from .demo import views

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("jobs/", include("django_jobkit.urls")),  # the events stream: /jobs/events/?jobs=...
]
