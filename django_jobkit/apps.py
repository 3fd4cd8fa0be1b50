from __future__ import annotations

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class JobkitConfig(AppConfig):
    name = "django_jobkit"
    label = "django_jobkit"
    verbose_name = "Jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the system checks

        # Like admin.py: every installed app's jobs.py registers its jobs, in web and worker
        # processes alike, before the first message is consumed.
        autodiscover_modules("jobs")
