"""What `manage.py jobkit status|list|show|workers` print: the same figures as the admin's
dashboard (`models.stats`), as tables for a terminal, plain columns for a pipe, or JSON.

Tables use `rich` (the `console` extra) when the output is a terminal and rich is installed;
otherwise plain aligned columns, so that `grep` and `awk` read them. `--json` prints the
figures themselves, for scripts: times as ISO 8601, durations in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from ..models import JobProcess, JobQueue, JobRequest, JobResult, JobWorker, stats
from ..timetext import duration, relative

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
            "running": w.running_jobs,
        }
        for w in JobWorker.objects.live(now).with_running_jobs().order_by("name")
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


def results_since(since: datetime, queue: str | None, limit: int = 500) -> list[JobResult]:
    """Results recorded at or after `since`, oldest first (what `tail` follows)."""
    rows = JobResult.objects.filter(ended_at__gte=since).order_by("ended_at", "pk")
    if queue:
        rows = rows.filter(queue=queue)
    return list(rows[:limit])


def latest_results(queue: str | None, n: int) -> list[JobResult]:
    rows = JobResult.objects.order_by("-ended_at", "-pk")
    if queue:
        rows = rows.filter(queue=queue)
    return list(rows[:n])


def tail_line(row: JobResult) -> str:
    summary = listing_row(row)
    return (
        f"{row.ended_at:%H:%M:%S} {row.status:<10} {row.job_class} {row.job_request_uuid} "
        f"{duration(row.duration)} {summary['error']}"
    ).rstrip()


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
        return relative(value, now)
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def progress_cell(fraction: float | None, message: str) -> str:
    """`[#####-----]  50% message` for plain output."""
    if fraction is None:
        return message or "-"
    filled = round(max(0.0, min(1.0, fraction)) * 10)
    return f"[{'#' * filled}{'-' * (10 - filled)}] {fraction:4.0%} {message}".rstrip()


@dataclass(frozen=True)
class Table:
    title: str
    headers: Sequence[str]
    rows: list[list[str]]


def status_tables(now: datetime) -> list[Table]:
    data = status(now)
    rows = [
        [
            q["queue"],
            *(str(q[k]) for k in ("waiting", "delayed", "running", "failed_last_hour")),
            cell(q["paused"]),
            cell(q["oldest_waiting"], now),
        ]
        for q in data["queues"]
    ]
    headers = ("QUEUE", "WAITING", "DELAYED", "RUNNING", "FAILED 1H", "PAUSED", "OLDEST")
    return [Table("Queues", headers, rows), workers_table(data["workers"], now)]


def workers_table(found: list[dict[str, Any]], now: datetime) -> Table:
    rows = [
        [
            w["name"],
            f"{w['host']}:{w['pid']}",
            cell(w["queues"]),
            str(w["running"]),
            cell(w["last_seen"], now),
        ]
        for w in found
    ]
    headers = ("WORKER", "HOST:PID", "QUEUES", "RUNNING", "LAST SEEN")
    return Table(f"Live workers: {len(found)}", headers, rows)


def listing_table(state: str, found: list[dict[str, Any]], now: datetime) -> Table:
    if state == "waiting":
        last = "START"
        tail = [cell(j["start_at"], now) if j["start_at"] else "now" for j in found]
    elif state == "running":
        last = "PROGRESS"
        tail = [progress_cell(j["progress"], j["message"]) for j in found]
    else:
        last = "ERROR"
        tail = [j["error"] or "-" for j in found]
    rows = [
        [
            j["uuid"],
            j["job_class"],
            j["queue"],
            str(j["attempt"]),
            j["state"],
            cell(j["since"], now),
            end,
        ]
        for j, end in zip(found, tail, strict=True)
    ]
    headers = ("UUID", "JOB", "QUEUE", "ATTEMPT", "STATE", "SINCE", last)
    return Table(f"{state.capitalize()}: newest {len(found)}", headers, rows)


def print_tables(stdout: Any, tables: list[Table]) -> None:
    """Print tables: rich's on a terminal when it is installed, else plain columns."""
    if _rich_terminal(stdout):
        from rich.console import Console

        Console(file=stdout).print(_rich_group(tables))
        return
    for found in tables:
        lines = [list(found.headers), *found.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(found.headers))]
        if found.title:
            stdout.write(found.title)
        for line in lines:
            stdout.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def watch(
    stdout: Any, make: Callable[[datetime], list[Table]], every: float, duration: float | None
) -> None:
    """Redraw `make(now)` every `every` seconds until Ctrl-C or `duration` seconds: in place
    on a terminal (rich's `Live`), as successive tables, each under its time, in a pipe."""
    deadline = None if duration is None else time.monotonic() + duration
    live: Any = None
    if _rich_terminal(stdout):
        from rich.console import Console
        from rich.live import Live

        live = Live(console=Console(file=stdout), auto_refresh=False)
        live.start()
    try:
        while True:
            now = timezone.now()
            tables = make(now)
            if live is not None:
                live.update(_rich_group(tables), refresh=True)
            else:
                stdout.write(f"--- {now:%Y-%m-%d %H:%M:%S %Z}")
                print_tables(stdout, tables)
            if deadline is not None and time.monotonic() + every > deadline:
                return
            time.sleep(every)  # the refresh period the user asked for
    except KeyboardInterrupt:
        return
    finally:
        if live is not None:
            live.stop()


def _rich_group(tables: list[Table]) -> Any:
    from rich.console import Group
    from rich.table import Table as RichTable

    shown = []
    for found in tables:
        rich_table = RichTable(title=found.title or None)
        for header in found.headers:
            rich_table.add_column(header)
        for row in found.rows:
            rich_table.add_row(*row)
        shown.append(rich_table)
    return Group(*shown)


def _rich_terminal(stdout: Any) -> bool:
    isatty = getattr(stdout, "isatty", None)
    if not (isatty and isatty()):
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True
