"""What the admin's dashboard counts: each figure one bounded query, portable to every backend.

Results are only ever read through the `ended_at` index, restricted to the window shown (the
last hour, the last 24 h), so a table of millions of results costs what the window holds, not
what the table holds. Requests and processes are the backlog and the running jobs: counted
whole, grouped by queue. Percentiles are computed here in Python, with the same definition as
PostgreSQL's `percentile_cont`, over the latest `DURATION_SAMPLE` results of the window: one
query for every job class together, the same on SQLite, PostgreSQL and MariaDB.

These read with the default routing: a read replica may serve the dashboard, as it may the
admin's lists.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise

from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from .records import JobProcess, JobRequest, JobResult

#: Statuses that count as failures in the dashboard's chart and failure rates.
FAILED = (JobResult.Status.ERRORED, JobResult.Status.LOST)

#: How many of the window's latest results the duration percentiles are computed from.
DURATION_SAMPLE = 10_000

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Bucket:
    """One bar of the chart: the results that ended in [start, end)."""

    start: datetime
    end: datetime
    finished: int
    failed: int


@dataclass(frozen=True)
class QueueRow:
    name: str
    waiting: int  # due now: no start time, or one that passed
    delayed: int
    oldest_waiting: datetime | None  # since when the longest-waiting due request waits
    running: int


@dataclass(frozen=True)
class ClassRow:
    job_class: str
    runs: int
    failed: int
    p50: float | None  # seconds, None when no run of the sample started
    p95: float | None

    @property
    def failure_rate(self) -> float:
        return self.failed / self.runs if self.runs else 0.0


def hour_boundaries(now: datetime, hours: int = 24, zone: tzinfo | None = None) -> list[datetime]:
    """`hours + 1` aware boundaries of the last `hours` hours of `zone`'s clock, the last one
    the end of the hour `now` is in.

    The boundaries are stepped in UTC from the local start of the hour, not by wall-clock
    arithmetic (which Python does for aware datetimes), so that each bucket is one real hour
    across a daylight saving change, and hours of a zone half an hour off UTC start on its
    own clock's hour.
    """
    if timezone.is_naive(now):
        raise ValueError(f"now={now!r} is naive: the buckets need an aware time")
    if hours < 1:
        raise ValueError(f"hours={hours!r}: a chart needs at least one hour")
    local = timezone.localtime(now, zone or timezone.get_current_timezone())
    # `replace` keeps `fold`, so in the hour repeated when clocks go back it stays the one
    # `now` is in.
    start_of_hour = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    end = start_of_hour + HOUR
    return [end - HOUR * (hours - i) for i in range(hours + 1)]


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The `fraction` percentile of sorted values, interpolated linearly between the two
    nearest ranks (PostgreSQL's `percentile_cont`); None for no values."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction!r}: a percentile is between 0 and 1")
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def status_counts(now: datetime) -> dict[str, tuple[int, int]]:
    """Results by status: (ended in the last hour, ended in the last 24 h). One query."""
    rows = (
        JobResult.objects.filter(ended_at__gt=now - DAY, ended_at__lte=now)
        .order_by()
        .values("status")
        .annotate(day=Count("pk"), hour=Count("pk", filter=Q(ended_at__gt=now - HOUR)))
    )
    counts = {status: (0, 0) for status in JobResult.Status.values}
    for row in rows:
        counts[row["status"]] = (row["hour"], row["day"])
    return counts


def buckets(boundaries: list[datetime]) -> list[Bucket]:
    """Results finished and failed in each interval between consecutive `boundaries`.

    One query: each row is given the index of its interval by a CASE on `ended_at` (portable,
    where truncating to the hour in a time zone is not) and counted by it.
    """
    if len(boundaries) < 2:
        raise ValueError("buckets need at least two boundaries")
    whens = [
        When(ended_at__gte=start, then=Value(i))
        for i, start in reversed(list(enumerate(boundaries[:-1])))
    ]
    rows = (
        JobResult.objects.filter(ended_at__gte=boundaries[0], ended_at__lt=boundaries[-1])
        .order_by()
        .annotate(bucket=Case(*whens, output_field=IntegerField()))
        .values("bucket")
        .annotate(finished=Count("pk"), failed=Count("pk", filter=Q(status__in=FAILED)))
    )
    found = {row["bucket"]: (row["finished"], row["failed"]) for row in rows}
    return [
        Bucket(start, end, *found.get(i, (0, 0)))
        for i, (start, end) in enumerate(pairwise(boundaries))
    ]


def queues(now: datetime) -> list[QueueRow]:
    """Every queue with a waiting, delayed or running job, by name. Two queries."""
    due = Q(start_at__isnull=True) | Q(start_at__lte=now)
    waiting = (
        JobRequest.objects.order_by()
        .values("queue")
        .annotate(
            waiting=Count("pk", filter=due),
            delayed=Count("pk", filter=~due),
            oldest=Min(Coalesce("start_at", "created_at"), filter=due),
        )
    )
    running = JobProcess.objects.order_by().values("queue").annotate(n=Count("pk"))
    counts = {row["queue"]: row["n"] for row in running}
    rows = {row["queue"]: row for row in waiting}
    return [
        QueueRow(
            name=name,
            waiting=rows[name]["waiting"] if name in rows else 0,
            delayed=rows[name]["delayed"] if name in rows else 0,
            oldest_waiting=rows[name]["oldest"] if name in rows else None,
            running=counts.get(name, 0),
        )
        for name in sorted(rows.keys() | counts.keys())
    ]


def job_classes(
    now: datetime, window: timedelta = DAY, sample: int = DURATION_SAMPLE, limit: int = 50
) -> list[ClassRow]:
    """The `limit` job classes with the most results in the window: runs, failures and the
    p50/p95 durations of the latest `sample` results of the window. Two queries."""
    if sample < 1 or limit < 1:
        raise ValueError(f"sample={sample!r}, limit={limit!r}: both need to be at least 1")
    in_window = JobResult.objects.filter(ended_at__gt=now - window, ended_at__lte=now).order_by()
    totals = list(
        in_window.values("job_class")
        .annotate(runs=Count("pk"), failed=Count("pk", filter=Q(status__in=FAILED)))
        .order_by("-runs", "job_class")[:limit]
    )
    # The difference taken by the database: one value per row to convert, not two datetimes.
    took = ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField())
    latest = (
        in_window.filter(started_at__isnull=False)
        .order_by("-ended_at")
        .annotate(took=took)
        .values_list("job_class", "took")[:sample]
    )
    durations: dict[str, list[float]] = defaultdict(list)
    for job_class, elapsed in latest:
        durations[job_class].append(max(elapsed.total_seconds(), 0.0))
    rows = []
    for total in totals:
        ordered = sorted(durations.get(total["job_class"], ()))
        rows.append(
            ClassRow(
                job_class=total["job_class"],
                runs=total["runs"],
                failed=total["failed"],
                p50=percentile(ordered, 0.5),
                p95=percentile(ordered, 0.95),
            )
        )
    return rows


def failed_by_queue(now: datetime, window: timedelta = HOUR) -> dict[str, int]:
    """Final failures (errored or lost, not retried) that ended in `window`, by queue. One
    query on the `ended_at` index."""
    rows = (
        JobResult.objects.filter(
            ended_at__gt=now - window,
            ended_at__lte=now,
            status__in=FAILED,
            retry_job_request_uuid__isnull=True,
        )
        .order_by()
        .values("queue")
        .annotate(n=Count("pk"))
    )
    return {row["queue"]: row["n"] for row in rows}
