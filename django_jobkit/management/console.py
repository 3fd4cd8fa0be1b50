"""What `manage.py jobkit status|list|show|workers` print: the same figures as the admin's
dashboard (`models.stats`), as tables for a terminal, plain columns for a pipe, or JSON.

Tables use `rich` (the `console` extra) when the output is a terminal and rich is installed;
otherwise plain aligned columns, so that `grep` and `awk` read them. `--json` prints the
figures themselves, for scripts: times as ISO 8601, durations in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from ..models import JobProcess, JobQueue, JobRequest, JobResult, JobWorker, stats

#: The states `list` shows, each from its own table.
STATES = ("waiting", "running", "failed", "ended")


def status(now: datetime) -> dict[str, Any]:
    """Per queue: waiting (due), delayed, running, failed in the last hour, paused; and the
    workers heard from within the heartbeat timeout."""
    failed = stats.failed_by_queue(now)
    paused = JobQueue.objects.paused_names()
    rows = {q.name: q for q in stats.queues(now)}
    names = sorted(rows.keys() | failed.keys() | paused)
    return {
        "queues": [
            {
                "queue": name,
                "waiting": rows[name].waiting if name in rows else 0,
                "delayed": rows[name].delayed if name in rows else 0,
                "running": rows[name].running if name in rows else 0,
                "failed_last_hour": failed.get(name, 0),
                "paused": name in paused,
                "oldest_waiting": rows[name].oldest_waiting if name in rows else None,
            }
            for name in names
        ],
        "workers": workers(now),
    }


def workers(now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "name": w.name,
            "host": w.host,
            "pid": w.pid,
            "queues": list(w.queues or ()),
            "last_seen": w.last_seen,
            "running": JobProcess.objects.of_worker(w.host, w.pid).count(),
        }
        for w in JobWorker.objects.live(now).order_by("name")
    ]


def listing(state: str, queue: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` jobs in `state` (of `queue`)."""
    if state == "waiting":
        rows: Any = JobRequest.objects.order_by("-created_at")
    elif state == "running":
        rows = JobProcess.objects.order_by("-started_at")
    else:
        rows = JobResult.objects.order_by("-ended_at")
        if state == "failed":
            rows = rows.filter(status__in=stats.FAILED)
    if queue is not None:
        rows = rows.filter(queue=queue)
    return [listing_row(row) for row in rows[:limit]]


def listing_row(row: Any) -> dict[str, Any]:
    """A request, process or result as `list` and `tail` show it."""
    found: dict[str, Any] = {
        "uuid": str(row.job_request_uuid),
        "job_class": row.job_class,
        "queue": row.queue,
        "attempt": row.retry_attempt + 1,
    }
    if isinstance(row, JobRequest):
        found.update(state="waiting", since=row.created_at, start_at=row.start_at)
    elif isinstance(row, JobProcess):
        found.update(
            state="running",
            since=row.started_at,
            progress=row.progress,
            message=row.progress_message,
        )
    else:
        found.update(
            state=row.status,
            since=row.ended_at,
            duration=row.duration,
            error=(row.error or "").splitlines()[0][:120] if row.error else "",
        )
    return found


def show(uuid: str) -> dict[str, Any] | None:
    """One job by its request uuid: its request, process or result, whole."""
    for model in (JobRequest, JobProcess, JobResult):
        row = model.objects.filter(job_request_uuid=uuid).first()
        if row is not None:
            found = listing_row(row)
            found["parameters"] = row.parameters
            found["root_uuid"] = str(row.root_uuid)
            if isinstance(row, JobRequest):
                found["why_waiting"] = row.waiting_reason()
            if isinstance(row, JobResult):
                found.update(
                    started_at=row.started_at,
                    return_value=row.return_value,
                    traceback=row.traceback,
                    retry_uuid=(
                        str(row.retry_job_request_uuid) if row.retry_job_request_uuid else None
                    ),
                )
            return found
    return None


def to_json(data: Any) -> str:
    return json.dumps(data, cls=DjangoJSONEncoder, indent=2, sort_keys=True)


def cell(value: Any, now: datetime | None = None) -> str:
    """A value as a table shows it: times relative to now, progress as a percentage."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, datetime):
        seconds = ((now or timezone.now()) - value).total_seconds()
        return f"{_span(abs(seconds))} {'ago' if seconds >= 0 else 'from now'}"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def progress_cell(fraction: float | None, message: str) -> str:
    """`[#####-----]  50% message` for plain output."""
    if fraction is None:
        return message or "-"
    filled = round(max(0.0, min(1.0, fraction)) * 10)
    return f"[{'#' * filled}{'-' * (10 - filled)}] {fraction:4.0%} {message}".rstrip()


def table(stdout: Any, title: str, headers: Sequence[str], rows: list[list[str]]) -> None:
    """Print a table: rich's on a terminal when it is installed, else plain columns."""
    if _rich_terminal(stdout):
        from rich.console import Console
        from rich.table import Table

        rich_table = Table(title=title)
        for header in headers:
            rich_table.add_column(header)
        for row in rows:
            rich_table.add_row(*row)
        Console(file=stdout).print(rich_table)
        return
    lines = [list(headers), *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    stdout.write(title)
    for line in lines:
        stdout.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _rich_terminal(stdout: Any) -> bool:
    isatty = getattr(stdout, "isatty", None)
    if not (isatty and isatty()):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True
