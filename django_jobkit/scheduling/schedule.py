"""Cron schedules for jobs: `Schedule.from_cron(...)` on a Job class, or `JOBKIT_SCHEDULE`.

Parsing and next-occurrence arithmetic come from croniter (pallets-eco); this module only
restricts it to standard 5-field cron — the syntax that django-celery-beat's crontab, which
fires the schedules, understands too — and turns each expression into the fields of beat's
`CrontabSchedule` rows. Time zones are zoneinfo zones; the default is `TIME_ZONE`.

Syncing into django-celery-beat and firing the occurrences live in `beat`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from ..exceptions import InvalidSchedule

if TYPE_CHECKING:
    from ..jobs import Job

SPECIALS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day of month", "month", "day of week")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES: tuple[tuple[str, ...], ...] = ((), (), (), MONTH_NAMES, DAY_NAMES)
# One element of a field: `*` or a value or a range, optionally with a step. What croniter
# accepts beyond this (L, W, #, ?, H, seconds and years) is refused: beat could not fire it.
_ELEMENT = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?$")
_TOKEN = re.compile(r"[0-9a-z]+")

#: The marker between a schedule's key and the occurrence in a scheduled job's concurrency key.
OCCURRENCE_MARKER = "scheduled:"
MAX_KEY_LENGTH = 255 - len(":scheduled:") - 12  # room for any epoch up to the year 33658


@dataclass(frozen=True)
class Schedule:
    """When a job is enqueued: a standard 5-field cron expression in a time zone.

    Build it with `Schedule.from_cron`. With `catch_up`, occurrences missed while beat was
    down are enqueued once each when beat starts again (the most recent
    `JOBKIT_SCHEDULE_CATCH_UP_LIMIT` of them); without it they are skipped.
    """

    expression: str
    tz: str | None = None
    catch_up: bool = False
    #: The five fields as plain lists and ranges of numbers ("*" when unrestricted).
    fields: tuple[str, str, str, str, str] = field(default=("*",) * 5, compare=False)

    @classmethod
    def from_cron(
        cls, expression: str, tz: str | tzinfo | None = None, *, catch_up: bool = False
    ) -> Schedule:
        """Parse `expression` ("0 9 * * mon-fri", "@daily", ...) for the zone `tz`.

        `tz` is a zone name or a `ZoneInfo`; None means the project's `TIME_ZONE`, read when
        the schedule is used. An invalid expression or zone raises `InvalidSchedule`, which
        names the Job class when called in its body (`schedule = Schedule.from_cron(...)`).
        """
        try:
            return cls(
                expression=expression,
                tz=_zone_name(tz),
                catch_up=bool(catch_up),
                fields=parse_cron(expression),
            )
        except InvalidSchedule as exc:
            owner = _calling_class()
            if owner:
                raise InvalidSchedule(f"{owner}.schedule: {exc}") from None
            raise

    def __str__(self) -> str:
        return self.expression

    @property
    def timezone(self) -> ZoneInfo:
        """The zone the expression is read in: `tz`, else the project's `TIME_ZONE`."""
        if self.tz:
            return ZoneInfo(self.tz)
        from django.conf import settings

        return ZoneInfo(settings.TIME_ZONE or "UTC")

    @property
    def zone_name(self) -> str:
        return self.timezone.key

    @property
    def fixed_hour(self) -> bool:
        """True when the hour field is restricted ("0 9 * * *", not "*/15 * * * *")."""
        return self.fields[1] != "*"

    def crontabs(self) -> list[dict[str, str]]:
        """The django-celery-beat `CrontabSchedule` fields that fire this schedule.

        Cron runs on a day matching day-of-month OR day-of-week when both are restricted;
        Celery's crontab requires both. Such an expression becomes two crontabs, one per
        day field; a day matching both is fired twice and enqueued once (same occurrence).
        """
        minute, hour, dom, month, dow = self.fields
        base = {"minute": minute, "hour": hour, "month_of_year": month}
        if dom != "*" and dow != "*":
            return [
                {**base, "day_of_month": dom, "day_of_week": "*"},
                {**base, "day_of_month": "*", "day_of_week": dow},
            ]
        return [{**base, "day_of_month": dom, "day_of_week": dow}]

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.expression_5, start.astimezone(self.timezone))

    @property
    def expression_5(self) -> str:
        """The normalized five fields, as croniter and beat read them."""
        return " ".join(self.fields)

    def canonical(self, occurrence: datetime) -> datetime:
        """One identity per occurrence: the first of a repeated wall-clock time.

        When clocks go back, croniter yields 02:30 twice; a schedule with a fixed hour runs
        once, like cron. Schedules with a `*` hour keep both (they follow real time).
        """
        local = occurrence.astimezone(self.timezone)
        if self.fixed_hour:
            local = local.replace(fold=0)
            local = datetime.fromtimestamp(local.timestamp(), self.timezone)
        return local

    # Aware datetimes sharing a tzinfo compare by wall clock, ignoring `fold`: the two 02:30s
    # of a fall-back night would be "equal". Occurrences are compared by timestamp instead.

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (aware), in the schedule's zone."""
        it = self._iter(moment)
        while True:
            candidate = self.canonical(it.get_next(datetime))
            if candidate.timestamp() > moment.timestamp():
                return candidate

    def latest_at_or_before(self, moment: datetime) -> datetime:
        """The last occurrence at or before `moment` (aware), in the schedule's zone."""
        it = self._iter(moment + timedelta(microseconds=1))
        return self.canonical(it.get_prev(datetime))

    def occurrences_between(
        self, after: datetime, until: datetime, *, limit: int
    ) -> list[datetime]:
        """The most recent `limit` occurrences in (after, until], oldest first."""
        found: list[datetime] = []
        it = self._iter(until + timedelta(microseconds=1))
        while len(found) < limit:
            occurrence = self.canonical(it.get_prev(datetime))
            if occurrence.timestamp() <= after.timestamp():
                break
            if not found or occurrence.timestamp() != found[-1].timestamp():
                found.append(occurrence)
        return found[::-1]

    def upcoming(self, moment: datetime, count: int) -> Iterator[datetime]:
        for _ in range(count):
            moment = self.next_after(moment)
            yield moment


def parse_cron(expression: Any) -> tuple[str, str, str, str, str]:
    """Validate a standard cron expression; return its five fields as numbers and ranges."""
    if not isinstance(expression, str):
        raise InvalidSchedule(
            f"cron expression {expression!r} has type {type(expression).__name__}; pass a str"
        )
    text = " ".join(expression.lower().split())
    if text.startswith("@"):
        if text not in SPECIALS:
            raise InvalidSchedule(
                f"invalid cron expression {expression!r}: unknown special {text!r}; use one "
                f"of {', '.join(SPECIALS)}"
            )
        text = SPECIALS[text]
    parts = text.split()
    if len(parts) != 5:
        raise InvalidSchedule(
            f"invalid cron expression {expression!r}: it has {len(parts)} fields; standard "
            "cron has 5 (minute hour day-of-month month day-of-week)"
        )
    for index, part in enumerate(parts):
        for element in part.split(","):
            match = _ELEMENT.match(element)
            tokens = _TOKEN.findall(match.group(1)) if match else []
            if not match or any(not t.isdigit() and t not in _NAMES[index] for t in tokens):
                names = ", names" if _NAMES[index] else ""
                raise InvalidSchedule(
                    f"invalid cron expression {expression!r}: {element!r} is not a valid "
                    f"{FIELD_NAMES[index]} (numbers, *, ranges a-b, steps /n, lists a,b{names})"
                )
    try:
        expanded, _nth = croniter.expand(text)
    except CroniterError as exc:
        reason = str(exc).replace(f"[{text}] ", "")
        raise InvalidSchedule(f"invalid cron expression {expression!r}: {reason}") from None
    return tuple(_compact(values) for values in expanded)  # type: ignore[return-value]


def _compact(values: list[Any]) -> str:
    """[1, 2, 3, 5] → "1-3,5"; ["*"] → "*"."""
    if values == ["*"]:
        return "*"
    numbers = sorted({int(v) for v in values})
    runs: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(runs)


def _zone_name(tz: str | tzinfo | None) -> str | None:
    if tz is None:
        return None
    name = getattr(tz, "key", tz)
    if not isinstance(name, str) or not name:
        raise InvalidSchedule(f"time zone {tz!r} is not a zone name such as 'Europe/Paris'")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"unknown time zone {name!r}; use a name such as 'Europe/Paris'"
        ) from None
    return name


def _calling_class() -> str:
    """`module.Class` when `from_cron` is called in a class body, else ""."""
    frame = sys._getframe(2)
    module = frame.f_locals.get("__module__")
    qualname = frame.f_locals.get("__qualname__")
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}.{qualname}"
    return ""


def occurrence_of(concurrency_key: str) -> datetime | None:
    """The occurrence (aware, UTC) a scheduled job's concurrency key stands for, else None."""
    head, marker, epoch = concurrency_key.rpartition(OCCURRENCE_MARKER)
    if not marker or not epoch.isdigit() or (head and not head.endswith(":")):
        return None
    return datetime.fromtimestamp(int(epoch), UTC)


def previous_run_pending(job: Job, concurrency_key: str) -> bool:
    """For `should_enqueue`: True while an earlier occurrence of the schedule waits or runs.

    "Skip this run if the previous one is still going":

        def should_enqueue(self, concurrency_key):
            return not previous_run_pending(self, concurrency_key)

    For a key that is not an occurrence's, this is the default rule (same key pending or
    running, never for an empty key).
    """
    from .. import registry
    from ..models import JobRequest

    head, marker, _epoch = concurrency_key.rpartition(OCCURRENCE_MARKER)
    name = registry.name_for(type(job))
    if marker:
        return JobRequest.objects.pending_or_running(name, key_prefix=head + marker)
    if concurrency_key:
        return JobRequest.objects.pending_or_running(name, concurrency_key)
    return False
