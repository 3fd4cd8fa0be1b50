"""`manage.py jobkit <subcommand>`: one command, a thin class per subcommand.

To add a subcommand, write a `Subcommand` subclass whose `handle` calls the code doing the work,
and list it in `SUBCOMMANDS`.
"""

from __future__ import annotations

from argparse import ArgumentParser
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Subcommand:
    help = ""

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Arguments of this subcommand only."""

    def handle(self, command: BaseCommand, **options: Any) -> None:
        raise NotImplementedError


class Schedules(Subcommand):
    help = (
        "List the scheduled jobs: expression, time zone, next run, last run and the state of "
        "their periodic task in beat."
    )

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.scheduling.beat import schedule_statuses

        statuses = schedule_statuses()
        if not statuses:
            command.stdout.write(
                "No scheduled jobs. Give a Job class schedule = Schedule.from_cron(...), or "
                "list jobs with arguments in JOBKIT_SCHEDULE."
            )
            return
        header = ("SCHEDULE", "EXPRESSION", "TIME ZONE", "NEXT RUN", "LAST RUN", "BEAT")
        rows = [header]
        for status in statuses:
            schedule = status.entry.schedule
            rows.append(
                (
                    status.entry.name,
                    schedule.expression + (" (catch up)" if schedule.catch_up else ""),
                    schedule.zone_name,
                    _when(status.next_run),
                    _last_run(status),
                    status.beat_state,
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        for row in rows:
            line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            command.stdout.write(line.rstrip())


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _last_run(status: Any) -> str:
    result = status.last_result
    text = (
        "never"
        if result is None
        else f"{result.status} {_when(result.ended_at.astimezone(status.entry.schedule.timezone))}"
    )
    return f"{text}, {status.waiting} now" if status.waiting else text


class SyncSchedules(Subcommand):
    help = (
        "Create, update or disable django-celery-beat's periodic tasks for the scheduled jobs "
        "(migrate does it too). Paused tasks stay paused; other periodic tasks are untouched."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--database", help="Database alias (default: beat's router choice).")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.scheduling.beat import sync_schedules

        report = sync_schedules(using=options.get("database"))
        for line in report.lines():
            command.stdout.write(line)
        if not report.changed:
            command.stdout.write("Schedules are in sync.")


class Sweep(Subcommand):
    help = (
        "Send unsent and due delayed jobs, record lost ones, prune old results: once, or every "
        "JOBKIT_SWEEP_INTERVAL seconds with --loop (for projects that run no beat)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Sweep until interrupted.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        import time

        from django_jobkit.conf import jobkit_settings
        from django_jobkit.execution.sweeper import Sweeper

        sweeper = Sweeper()
        while True:
            command.stdout.write(f"sweep: {sweeper.sweep()}")
            if not options["loop"]:
                return
            time.sleep(jobkit_settings.SWEEP_INTERVAL)


class Pause(Subcommand):
    help = (
        "Pause a queue: its jobs wait in the database and nothing is sent to it; a message "
        "already in flight is put back to wait when a worker takes it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="The queue's name, as jobs and workers name it.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.enqueue import pauses
        from django_jobkit.exceptions import InvalidJobOption

        try:
            changed = pauses.pause(options["queue"], by="manage.py jobkit pause")
        except InvalidJobOption as exc:
            raise CommandError(str(exc)) from exc
        queue = options["queue"]
        command.stdout.write(f"{queue}: paused" if changed else f"{queue}: already paused")


class Resume(Subcommand):
    help = "Resume a paused queue and send its waiting jobs that are due."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("queue", help="The queue's name.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.enqueue import pauses
        from django_jobkit.exceptions import InvalidJobOption

        try:
            changed, sent = pauses.resume(options["queue"])
        except InvalidJobOption as exc:
            raise CommandError(str(exc)) from exc
        queue = options["queue"]
        state = "resumed" if changed else "was not paused"
        command.stdout.write(f"{queue}: {state}; {sent} waiting job(s) sent")


SUBCOMMANDS: dict[str, type[Subcommand]] = {
    "pause": Pause,
    "resume": Resume,
    "schedules": Schedules,
    "sweep": Sweep,
    "sync_schedules": SyncSchedules,
}


class Command(BaseCommand):
    help = "django-jobkit: " + ", ".join(SUBCOMMANDS) + "."

    def add_arguments(self, parser: ArgumentParser) -> None:
        subparsers = parser.add_subparsers(dest="subcommand", metavar="subcommand", required=True)
        for name, subcommand in SUBCOMMANDS.items():
            subparser = subparsers.add_parser(
                name, help=subcommand.help, description=subcommand.help
            )
            subcommand().add_arguments(subparser)

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand not in SUBCOMMANDS:
            raise CommandError(f"unknown subcommand {subcommand!r}")
        SUBCOMMANDS[subcommand]().handle(self, **options)
