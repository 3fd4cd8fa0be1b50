"""Run a command in its own process group; a stop signal reaches its main process only.

    python manage.py run_isolated -- celery -A example_project worker -Q default,slow

Procfile runners (honcho, foreman) stop a process by signalling its whole process group. A
Celery prefork worker must not be stopped that way: its pool children would get SIGTERM too,
and a child killed while holding the pool's queue lock leaves the main process waiting for
that lock forever at shutdown. Here SIGTERM or SIGINT goes to the main process alone, which
stops its children itself (warm shutdown); whatever is left of its group after it exits, or
after `--grace` seconds, is killed, so nothing outlives the demo.
"""

import contextlib
import os
import signal
import subprocess
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run a command in its own process group, passing stop signals to its main process."

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace", type=float, default=15, help="seconds before a kill (default 15)"
        )
        parser.add_argument("argv", nargs="+", help="the command, after --")

    def handle(self, *args, argv, grace, **options):
        argv = argv[1:] if argv[0] == "--" else argv
        if not argv:
            raise CommandError("give the command to run after --")
        child = subprocess.Popen(argv, process_group=0)
        stopping = threading.Event()

        def stop(signum, frame):
            if not stopping.is_set():
                stopping.set()
                child.send_signal(signal.SIGTERM)
                timer = threading.Timer(grace, kill_group, [child.pid])
                timer.daemon = True
                timer.start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = child.wait()
        kill_group(child.pid)  # children the main process left behind, if any
        raise SystemExit(code if code >= 0 else 128 - code)


def kill_group(pgid):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
