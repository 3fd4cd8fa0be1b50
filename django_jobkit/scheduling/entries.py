"""Which schedules exist: Job classes' `schedule` attributes and the `JOBKIT_SCHEDULE` setting.

Each valid one becomes a `ScheduledJob`; what is wrong with the others is collected as
`Problem`s for the system checks (E010-E013), and those schedules are skipped everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..exceptions import InvalidSchedule
from .schedule import MAX_KEY_LENGTH, OCCURRENCE_MARKER, Schedule

if TYPE_CHECKING:
    from ..jobs import Job

OPTIONS = {"args", "kwargs", "queue", "priority", "retries", "timeout", "key", "tz", "catch_up"}


@dataclass(frozen=True)
class ScheduledJob:
    """One schedule of one job: what beat fires, and how the job is enqueued each time."""

    name: str  #: unique and stable: the job's name, plus "[key]" when the schedule has a key
    job_name: str
    schedule: Schedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    key: str = ""  #: prefix of every occurrence's concurrency key
    queue: str | None = None
    priority: int | None = None
    retries: int | None = None
    timeout: int | None = None
    source: str = "class"  #: "class" (a Job's `schedule`) or "settings" (JOBKIT_SCHEDULE)

    def job(self) -> Job:
        from .. import registry

        return registry.job_class_for(self.job_name)(*self.args, **self.kwargs)

    def occurrence_key(self, occurrence: datetime) -> str:
        """`<key>:scheduled:<epoch>`: the concurrency key of one occurrence."""
        epoch = int(self.schedule.canonical(occurrence).timestamp())
        prefix = f"{self.key}:" if self.key else ""
        return f"{prefix}{OCCURRENCE_MARKER}{epoch}"

    @property
    def key_prefix(self) -> str:
        return f"{self.key}:{OCCURRENCE_MARKER}" if self.key else OCCURRENCE_MARKER

    def enqueue_options(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in [
                ("queue", self.queue),
                ("priority", self.priority),
                ("retries", self.retries),
                ("timeout", self.timeout),
            ]
            if value is not None
        }


@dataclass
class Problem:
    """An invalid schedule, reported by the system checks (and skipped everywhere else)."""

    id: str
    msg: str
    hint: str
    obj: Any = None


def scheduled_jobs() -> list[ScheduledJob]:
    """Every valid schedule: Job classes' `schedule` attributes, then `JOBKIT_SCHEDULE`."""
    return collect()[0]


def collect() -> tuple[list[ScheduledJob], list[Problem]]:
    """Every schedule, and what is wrong with those that cannot be used."""
    from .. import registry

    entries: list[ScheduledJob] = []
    problems: list[Problem] = []
    seen: set[type[Job]] = set()
    for cls in registry.registered().values():
        if cls in seen:
            continue
        seen.add(cls)
        schedule = getattr(cls, "schedule", None)
        if schedule is None:
            continue
        entry = _class_entry(cls, schedule, problems)
        if entry is not None:
            entries.append(entry)
    for index, raw in enumerate(_settings_schedule()):
        entry = _settings_entry(index, raw, problems)
        if entry is not None:
            entries.append(entry)
    unique: dict[str, ScheduledJob] = {}
    for entry in entries:
        if entry.name in unique:
            problems.append(
                Problem(
                    "django_jobkit.E013",
                    f"Two schedules of {entry.job_name} share the key {entry.key!r}, so their "
                    "occurrences would be mistaken for each other.",
                    "Give each JOBKIT_SCHEDULE entry of this job a distinct 'key' option.",
                    entry.name,
                )
            )
            continue
        unique[entry.name] = entry
    return list(unique.values()), problems


def _settings_schedule() -> list[Any]:
    from ..conf import jobkit_settings

    return jobkit_settings.SCHEDULE


def _class_entry(cls: type[Job], schedule: Any, problems: list[Problem]) -> ScheduledJob | None:
    from .. import registry

    name = registry.name_for(cls)
    if not isinstance(schedule, Schedule):
        problems.append(
            Problem(
                "django_jobkit.E012",
                f"{name}.schedule is {schedule!r}, not a Schedule.",
                'Write schedule = Schedule.from_cron("0 9 * * *") (from django_jobkit import '
                "Schedule).",
                name,
            )
        )
        return None
    try:
        job = cls()
    except TypeError as exc:
        problems.append(
            Problem(
                "django_jobkit.E012",
                f"{name} has a schedule but cannot be built without arguments: {exc}.",
                "Schedule jobs that take arguments in JOBKIT_SCHEDULE, with their kwargs.",
                name,
            )
        )
        return None
    return _entry(name, schedule, (), {}, {}, job, "class", problems)


def _settings_entry(index: int, raw: Any, problems: list[Problem]) -> ScheduledJob | None:
    from .. import registry
    from ..exceptions import UnknownJobClass

    where = f"JOBKIT_SCHEDULE[{index}]"

    def bad(msg: str, hint: str, check_id: str = "django_jobkit.E011") -> None:
        problems.append(Problem(check_id, f"{where}: {msg}", hint, raw))

    shape_hint = (
        'Each entry is ("app.jobs.SomeJob", "<cron expression>") or ("app.jobs.SomeJob", '
        f'"<cron expression>", {{options}}) with options among {", ".join(sorted(OPTIONS))}.'
    )
    if not isinstance(raw, list | tuple) or len(raw) not in (2, 3):
        bad(f"{raw!r} is not a (job, expression[, options]) tuple.", shape_hint)
        return None
    path, expression, *rest = raw
    options = rest[0] if rest else {}
    if not isinstance(path, str) or not isinstance(options, dict):
        bad(f"{raw!r} is not a (job, expression[, options]) tuple.", shape_hint)
        return None
    unknown = set(options) - OPTIONS
    if unknown:
        bad(f"unknown option(s) {', '.join(sorted(map(str, unknown)))}.", shape_hint)
        return None
    try:
        cls = registry.job_class_for(path)
    except UnknownJobClass:
        bad(
            f"{path!r} is not a registered job.",
            "Give the dotted path of a Job class decorated with @register_job in an installed "
            "app's jobs.py.",
        )
        return None
    name = registry.name_for(cls)
    try:
        schedule = Schedule.from_cron(
            expression, options.get("tz"), catch_up=bool(options.get("catch_up", False))
        )
    except InvalidSchedule as exc:
        bad(
            f"{name} has an invalid schedule: {exc}.",
            "Use standard 5-field cron (minute hour day-of-month month day-of-week) or "
            "@hourly/@daily/@weekly/@monthly/@yearly, and a zone name such as 'Europe/Paris'.",
            "django_jobkit.E010",
        )
        return None
    args = options.get("args", ())
    kwargs = options.get("kwargs", {})
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
        bad("'args' must be a list and 'kwargs' a dict.", shape_hint)
        return None
    try:
        job = cls(*args, **kwargs)
    except TypeError as exc:
        bad(f"{name} cannot be built from these arguments: {exc}.", shape_hint)
        return None
    return _entry(name, schedule, tuple(args), dict(kwargs), options, job, "settings", problems)


def _entry(
    name: str,
    schedule: Schedule,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    options: dict[str, Any],
    job: Job,
    source: str,
    problems: list[Problem],
) -> ScheduledJob | None:
    from ..parameters import encode_arguments

    try:
        encode_arguments(type(job).__init__, args, kwargs)
        key = options["key"] if "key" in options else job.default_concurrency_key()
        if not isinstance(key, str):
            raise TypeError(f"key {key!r} is not a str")
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"key {key[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
        for option, kind in [("queue", str), ("priority", int), ("retries", int), ("timeout", int)]:
            if options.get(option) is not None and not isinstance(options[option], kind):
                raise TypeError(f"{option}={options[option]!r} is not a {kind.__name__}")
    except (TypeError, ValueError) as exc:
        problems.append(
            Problem(
                "django_jobkit.E011",
                f"The schedule of {name} cannot be used: {exc}.",
                "Scheduled job arguments must be storable as JSON; key and queue must be "
                "str, priority, retries and timeout int.",
                name,
            )
        )
        return None
    return ScheduledJob(
        name=f"{name}[{key}]" if key else name,
        job_name=name,
        schedule=schedule,
        args=args,
        kwargs=kwargs,
        key=key,
        queue=options.get("queue"),
        priority=options.get("priority"),
        retries=options.get("retries"),
        timeout=options.get("timeout"),
        source=source,
    )
