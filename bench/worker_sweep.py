"""How long a worker's main process spends on a sweep that sends N due requests.

    DATABASE_URL=... CELERY_BROKER_URL=... .venv/bin/python bench/worker_sweep.py [--requests N]

Writes N requests that wait unsent (as after a broker outage) for a queue no worker consumes,
starts one real `celery worker -Q <another queue>`, and reads the line its sweep logs: the time
the pass took in the main process, in how many steps, and the longest step (the longest the
event loop went without polling its sockets). Then it removes the requests and the messages.
Uses the example project's settings and database (migrated if needed).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from django_jobkit import bulk_run_in_worker  # noqa: E402
from django_jobkit.models import JobLock, JobRequest  # noqa: E402
from example_project.celery import app  # noqa: E402
from example_project.demo.jobs import FlakyPartnerSyncJob  # noqa: E402

LINE = re.compile(r"sweep took (\d+) ms of its main process in (\d+) steps, the longest ([\d.]+)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    queue = f"sweep-measure-{uuid.uuid4().hex[:8]}"
    jobs = [FlakyPartnerSyncJob(0.0) for _ in range(args.requests)]
    requests = bulk_run_in_worker(jobs, queue=queue)
    pks = [r.pk for r in requests if r is not None]
    JobRequest.objects.filter(pk__in=pks).update(sent_at=None)
    JobLock.objects.filter(key="django_jobkit.sweep").delete()
    log = ROOT / "var" / f"{queue}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "celery", "-A", "example_project", "worker", "-c", "1"]
    command += ["-Q", f"{queue}-idle", "-l", "info", "--without-gossip", "--without-mingle"]
    with log.open("wb") as out:
        worker = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while not (match := LINE.search(log.read_text(errors="replace"))):
            if time.monotonic() > deadline or worker.poll() is not None:
                print(log.read_text(errors="replace"))
                return 1
            time.sleep(0.2)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
    sent = JobRequest.objects.filter(pk__in=pks, sent_at__isnull=False).count()
    total, steps, longest = match.groups()
    print(
        f"{app.conf.broker_url.split('://')[0]} + {django.db.connection.vendor}: "
        f"{sent} of {len(pks)} due requests sent by one pass in {total} ms of the worker's main "
        f"process, {steps} steps, the longest {longest} ms"
    )
    JobRequest.objects.filter(pk__in=pks).delete()
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)
    log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
