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
        from django_jobkit.management import console

        header = ("SCHEDULE", "EXPRESSION", "TIME ZONE", "NEXT RUN", "LAST RUN", "BEAT")
        rows = []
        for status in statuses:
            schedule = status.entry.schedule
            rows.append(
                [
                    status.entry.name,
                    schedule.expression + (" (catch up)" if schedule.catch_up else ""),
                    schedule.zone_name,
                    _when(status.next_run),
                    _last_run(status),
                    status.beat_state,
                ]
            )
        console.print_tables(command.stdout, [console.Table("", header, rows)])


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


class Status(Subcommand):
    help = (
        "Per queue: jobs waiting (due), delayed, running, failed in the last hour, paused; and "
        "the live workers."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON, for scripts.")
        _watch_arguments(parser)

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django.utils import timezone

        from django_jobkit.management import console

        if options["json"]:
            command.stdout.write(console.to_json(console.status(timezone.now())))
            return
        _show(command, options, console.status_tables)


class Workers(Subcommand):
    help = "The live workers: queues, jobs running, last heartbeat."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print JSON, for scripts.")
        _watch_arguments(parser)

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django.utils import timezone

        from django_jobkit.management import console

        if options["json"]:
            command.stdout.write(console.to_json(console.workers(timezone.now())))
            return
        _show(command, options, lambda now: [console.workers_table(console.workers(now), now)])


class List(Subcommand):
    help = "The newest jobs in a state: waiting, running (with progress), failed or ended."

    def add_arguments(self, parser: ArgumentParser) -> None:
        from django_jobkit.management.console import STATES

        parser.add_argument("state", choices=STATES, nargs="?", default="waiting")
        parser.add_argument("--queue", help="Only this queue's jobs.")
        parser.add_argument("--limit", type=int, default=20, help="How many (default 20).")
        parser.add_argument("--json", action="store_true", help="Print JSON, for scripts.")
        _watch_arguments(parser)

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.management import console

        if options["limit"] < 1:
            raise CommandError(f"--limit {options['limit']}: give a positive number")
        state, queue, limit = options["state"], options.get("queue"), options["limit"]
        if options["json"]:
            command.stdout.write(console.to_json(console.listing(state, queue, limit)))
            return
        _show(
            command,
            options,
            lambda now: [console.listing_table(state, console.listing(state, queue, limit), now)],
        )


def _watch_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--watch",
        type=float,
        metavar="SECONDS",
        help="Redraw every SECONDS until Ctrl-C (live on a terminal; a new table each time "
        "in a pipe).",
    )
    parser.add_argument(
        "--for",
        type=float,
        dest="watch_for",
        metavar="SECONDS",
        help="With --watch: stop after SECONDS.",
    )


def _show(command: BaseCommand, options: dict[str, Any], make: Any) -> None:
    from django_jobkit.management import console

    every = options.get("watch")
    if every is None:
        from django.utils import timezone

        console.print_tables(command.stdout, make(timezone.now()))
        return
    if every <= 0:
        raise CommandError(f"--watch {every:g}: give a positive number of seconds")
    console.watch(command.stdout, make, every, options.get("watch_for"))


class Show(Subcommand):
    help = "One job by its request uuid: where it stands, its arguments, its outcome."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("uuid", help="The job's request uuid (run_in_worker's request).")
        parser.add_argument("--json", action="store_true", help="Print JSON, for scripts.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        import uuid

        from django_jobkit.management import console

        try:
            wanted = str(uuid.UUID(options["uuid"]))
        except ValueError as exc:
            raise CommandError(f"{options['uuid']!r} is not a uuid") from exc
        found = console.show(wanted)
        if found is None:
            raise CommandError(f"no job with request uuid {wanted}")
        if options["json"]:
            command.stdout.write(console.to_json(found))
            return
        for key, value in found.items():
            text = console.to_json(value) if isinstance(value, dict | list) else str(value)
            command.stdout.write(f"{key}: {text}")


class Cancel(Subcommand):
    help = "Cancel a waiting job, or stop a running one (CANCELLED either way)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("uuid", nargs="+", help="Request uuids.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.models import JobProcess, JobRequest

        for given in options["uuid"]:
            request = JobRequest.objects.waiting(given)
            if request is not None and request.cancel() is not None:
                command.stdout.write(f"{given}: cancelled before it started")
                continue
            process = JobProcess.objects.filter(job_request_uuid=given).first()
            if process is not None and process.cancel():
                command.stdout.write(f"{given}: stopping; recorded CANCELLED as its child ends")
                continue
            command.stdout.write(f"{given}: not waiting or running (ended, or unknown)")


class Retry(Subcommand):
    help = (
        "Retry failed jobs by request uuid (any attempt of the chain): the chain's next "
        "attempt, enqueued to run now, as the admin's Retry action does."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("uuid", nargs="+", help="Request uuids of failed attempts.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit.execution import manual
        from django_jobkit.models import JobResult

        for given in options["uuid"]:
            result = JobResult.objects.of_request(given)
            if result is None:
                command.stdout.write(f"{given}: no result (waiting, running or unknown)")
                continue
            outcome = manual.retry(result)
            if outcome.enqueued:
                assert outcome.request is not None
                command.stdout.write(
                    f"{given}: retried as {outcome.request.job_request_uuid} "
                    f"(attempt {outcome.request.retry_attempt + 1})"
                )
            else:
                reason = f": {outcome.reason}" if outcome.reason else ""
                command.stdout.write(f"{given}: not retried, {outcome.status.value}{reason}")


class Enqueue(Subcommand):
    help = (
        "Enqueue a job: its class's dotted path, then --arg VALUE for each positional argument "
        "and --kwarg NAME=VALUE for each keyword (JSON where it parses, else a string)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("job_class", help="e.g. myapp.jobs.SendWelcomeEmailJob")
        parser.add_argument("--arg", action="append", default=[], metavar="VALUE")
        parser.add_argument("--kwarg", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--queue", help="The queue (default: the job's default_queue).")
        parser.add_argument("--delay", type=int, help="Seconds to wait before it runs.")
        parser.add_argument("--priority", type=int, help="Its priority (default: the job's).")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        from django_jobkit import registry
        from django_jobkit.exceptions import JobkitError

        name = options["job_class"]
        if not registry.is_registered(name):
            known = ", ".join(sorted(n for n in registry.registered() if not n.startswith("_")))
            raise CommandError(f"no job class is registered as {name!r}; registered: {known}")
        job_class = registry.job_class_for(name)
        args = [_value(v) for v in options["arg"]]
        kwargs = {}
        for pair in options["kwarg"]:
            name, sep, value = pair.partition("=")
            if not sep or not name.isidentifier():
                raise CommandError(f"--kwarg {pair!r}: give NAME=VALUE")
            kwargs[name] = _value(value)
        try:
            job = job_class(*args, **kwargs)
        except TypeError as exc:
            raise CommandError(f"{options['job_class']}: {exc}") from exc
        chosen = {k: options[k] for k in ("queue", "delay", "priority") if options[k] is not None}
        try:
            request = job.run_in_worker(**chosen)
        except (JobkitError, ValueError) as exc:
            raise CommandError(f"{options['job_class']}: {exc}") from exc
        if request is None:
            command.stdout.write("not enqueued: its concurrency key's job waits or runs")
            return
        command.stdout.write(f"enqueued {request.job_request_uuid} on {request.queue}")


def _value(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


class Tail(Subcommand):
    help = "The last results, then each as it is recorded (Ctrl-C stops), newest last."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--queue", help="Only this queue's jobs.")
        parser.add_argument("--last", type=int, default=10, help="Show the last N first.")
        parser.add_argument("--count", type=int, help="Stop after this many results.")
        parser.add_argument("--timeout", type=float, help="Stop after this many seconds.")
        parser.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, command: BaseCommand, **options: Any) -> None:
        import json
        import time

        from django.core.serializers.json import DjangoJSONEncoder
        from django.utils import timezone

        from django_jobkit.management import console

        last = console.latest_results(options["queue"], options["last"])
        since = last[-1].ended_at if last else timezone.now()  # the oldest shown, and on
        seen: set[int] = set()
        shown = 0
        deadline = None if options["timeout"] is None else time.monotonic() + options["timeout"]
        while deadline is None or time.monotonic() < deadline:
            for row in console.results_since(since, options["queue"]):
                if row.pk in seen:
                    continue
                seen.add(row.pk)
                if options["json"]:
                    command.stdout.write(
                        json.dumps(console.listing_row(row), cls=DjangoJSONEncoder)
                    )
                else:
                    command.stdout.write(console.tail_line(row))
                shown += 1
                if options["count"] is not None and shown >= options["count"]:
                    return
                since = max(since, row.ended_at)
            time.sleep(0.5)  # a console's refresh, not synchronisation


SUBCOMMANDS: dict[str, type[Subcommand]] = {
    "cancel": Cancel,
    "enqueue": Enqueue,
    "list": List,
    "pause": Pause,
    "resume": Resume,
    "retry": Retry,
    "schedules": Schedules,
    "show": Show,
    "status": Status,
    "sweep": Sweep,
    "sync_schedules": SyncSchedules,
    "tail": Tail,
    "workers": Workers,
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
