from django.urls import path

from . import views

app_name = "media"

urlpatterns = [
    path("", views.library, name="library"),
    path("all/<str:action>/", views.run_all, name="run_all"),
    path("<int:pk>/<str:action>/", views.run, name="run"),
]
