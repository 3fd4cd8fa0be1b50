"""Jobs a real site would have: found by jobkit's autodiscovery, like admin.py."""

import random

from django.contrib.auth.models import User
from django.core.mail import send_mail

from django_jobkit import Job, Schedule, register_job


@register_job
class SendWelcomeEmailJob(Job):
    """An email-like job: the user travels as a reference and is fetched again in the worker."""

    def __init__(self, user: User):
        self.user = user

    def run(self) -> dict:
        send_mail(
            "Welcome!",
            f"Hello {self.user.get_username()}, thanks for signing up.",
            "noreply@example.com",
            [self.user.email or f"{self.user.get_username()}@example.com"],
        )
        return {"sent_to": self.user.get_username()}


@register_job
class FlakyPartnerSyncJob(Job):
    """Calls an unreliable partner API: fails often, retried with exponential backoff."""

    def __init__(self, failure_rate: float = 0.6):
        self.failure_rate = failure_rate

    def default_retries(self) -> int:
        return 4

    def calculate_retry_delay(self, attempt: int) -> int:
        return 2**attempt  # 2, 4, 8, 16 seconds

    def run(self) -> str:
        if random.random() < self.failure_rate:
            raise ConnectionError("partner API timed out")
        return "synced"


@register_job
class RebuildUserStatsJob(Job):
    """Expensive per-user work: enqueued on every change, but never twice at once per user."""

    def __init__(self, user: User):
        self.user = user

    def default_concurrency_key(self) -> str:
        return f"user-{self.user.pk}"

    def default_queue(self) -> str:
        return "slow"

    def run(self) -> dict:
        return {"user": self.user.pk, "logins": 1 if self.user.last_login else 0}


@register_job
class ClearExpiredSessionsJob(Job):
    """Nightly cleanup, on a cron schedule: beat enqueues it at 03:30 every night."""

    schedule = Schedule.from_cron("30 3 * * *")

    def run(self) -> dict:
        from django.contrib.sessions.models import Session
        from django.utils import timezone

        deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
        return {"deleted_sessions": deleted}


@register_job
class ImportCatalogueJob(Job):
    """A long import that reports its progress: the demo page and the admin show it live."""

    def __init__(self, items: int = 20):
        self.items = items

    def run(self) -> dict:
        import time

        for done in range(1, self.items + 1):
            time.sleep(0.5)  # stands for importing one item
            self.set_progress(done / self.items, f"{done} of {self.items} items imported")
        return {"imported": self.items}
