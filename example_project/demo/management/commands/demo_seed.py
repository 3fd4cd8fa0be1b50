"""Enqueue a handful of sample jobs for the demo, once the web server answers.

    python manage.py demo_seed --wait-for http://127.0.0.1:8000/ --keep-running

`--keep-running` keeps the command alive until it is terminated: under a Procfile runner a
process that exits stops all the others.
"""

import signal
import sys
import time
import urllib.error
import urllib.request

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from example_project.demo.jobs import FlakyPartnerSyncJob, RebuildUserStatsJob, SendWelcomeEmailJob
from example_project.demo.tasks import count_words

SAMPLE_USERS = ["alice", "bob", "carol"]


class Command(BaseCommand):
    help = "Enqueue sample jobs: welcome emails, a flaky sync that retries, a deduplicated job."

    def add_arguments(self, parser):
        parser.add_argument("--wait-for", metavar="URL", help="first wait until URL answers")
        parser.add_argument("--timeout", type=float, default=120, help="seconds (default 120)")
        parser.add_argument(
            "--keep-running", action="store_true", help="then stay alive until terminated"
        )

    def handle(self, *args, wait_for=None, timeout=120, keep_running=False, **options):
        if wait_for:
            self.wait_until_answering(wait_for, timeout)
        self.seed()
        if wait_for:
            base = wait_for.rstrip("/")
            self.stdout.write(
                "\n"
                f"  Demo ready.  Jobs page:  {base}/\n"
                f"               Admin:      {base}/admin/  (login demo / demo, local only)\n"
                "  Press Ctrl-C to stop every process.\n"
            )
        if keep_running:
            signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                pass

    def wait_until_answering(self, url, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # it answered, even if not with 200
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"{url} did not answer within {timeout:g} s: {exc}") from exc
                time.sleep(0.5)

    def seed(self):
        users = [
            get_user_model().objects.get_or_create(
                username=name, defaults={"email": f"{name}@example.com"}
            )[0]
            for name in SAMPLE_USERS
        ]
        for user in users:
            SendWelcomeEmailJob(user).run_in_worker()
        self.stdout.write(f"Enqueued {len(users)} SendWelcomeEmailJob (emails land in var/mail/)")

        for failure_rate in (0.6, 0.6, 0.9):
            FlakyPartnerSyncJob(failure_rate).run_in_worker()
        self.stdout.write(
            "Enqueued 3 FlakyPartnerSyncJob (fail 60-90% of runs, retried 4 times with backoff)"
        )

        # A task of Django's tasks framework, run by the same workers (demo/tasks.py).
        result = count_words.enqueue("the database is the system of record")
        self.stdout.write(f"Enqueued the count_words task (result id {result.id})")

        # One transaction, so the first job cannot have finished before the second is offered:
        # its message is only sent at commit.
        with transaction.atomic():
            first = RebuildUserStatsJob(users[0]).run_in_worker()
            second = RebuildUserStatsJob(users[0]).run_in_worker()
        self.stdout.write(
            f"RebuildUserStatsJob for {users[0].username} twice: first enqueued as "
            f"{first.uuid if first else None}, second "
            + ("skipped by its concurrency key" if second is None else f"enqueued as {second.uuid}")
        )
