"""Which schedule fired a job, read back from the job's own row.

Nothing stores the periodic task a job came from, and nothing needs to: `beat.fire` enqueues
each occurrence with the concurrency key `[<key>:]scheduled:<epoch>`, and the schedule's name
is the job's class plus `[<key>]` when it has one; the managed `PeriodicTask` rows carry that
name in their keyword arguments. So the admin finds the rows from the job class and the key
alone, with one query on beat's table. Jobs enqueued by `django_jobkit.enqueue` from a
periodic task made by hand carry no such mark and are not traced back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .beat import ROW_PREFIX, managed_rows
from .schedule import OCCURRENCE_MARKER

if TYPE_CHECKING:
    from django_celery_beat.models import PeriodicTask


@dataclass(frozen=True)
class Firing:
    """One occurrence of a schedule, as a job's concurrency key records it."""

    schedule: str  #: the schedule's name, as in the managed rows' keyword arguments
    occurrence: datetime


def firing_of(job_class: str, concurrency_key: str) -> Firing | None:
    """The occurrence a job's concurrency key names; None for a job not fired by a schedule."""
    at = concurrency_key.rfind(OCCURRENCE_MARKER)
    if at < 0:
        return None
    prefix, epoch = concurrency_key[:at], concurrency_key[at + len(OCCURRENCE_MARKER) :]
    if not epoch.isdigit() or (prefix and not prefix.endswith(":")):
        return None
    key = prefix[:-1]
    name = f"{job_class}[{key}]" if key else job_class
    return Firing(name, datetime.fromtimestamp(int(epoch), tz=UTC))


def periodic_tasks_of(firing: Firing) -> list[PeriodicTask]:
    """The managed rows of the schedule that fired (two when its cron restricts both days)."""
    rows = managed_rows().filter(name__startswith=f"{ROW_PREFIX}{firing.schedule}")
    return [row for row in rows.order_by("name") if _schedule_of(row) == firing.schedule]


def _schedule_of(row: PeriodicTask) -> object:
    try:
        kwargs = json.loads(row.kwargs or "{}")
    except ValueError:
        return None
    return kwargs.get("schedule") if isinstance(kwargs, dict) else None
