"""--big-tables: fill jobkit's tables, and EXPLAIN the queries jobkit really runs.

`fill` writes `n` pending delayed requests (a day away, so no worker or sweep touches them)
and `n` results (ended within the last week, so the sweeper's pruning keeps them) with one
`INSERT ... SELECT ... FROM generate_series` each, columns taken from the models so that a new
field with a default needs no change here; then VACUUM ANALYZE, so the planner knows the sizes.

`explain` captures the SQL of an enqueue (without and with a concurrency key), of one job run
through jobkit's own Celery task (claim, run, record) and of one sweep, through Django's
CaptureQueriesContext, so the plans shown are those of the code as it is today.
"""

from __future__ import annotations

import time
from typing import Any

FILL_QUEUE = "bench-fill"
FILL_CLASS = "bench.jobs.NoopJob"
KEY = "CASE WHEN g %% 2 = 0 THEN 'fill-' || g ELSE '' END"  # half the rows have a key


def _insert_select(model: Any, n: int, overrides: dict[str, str]) -> None:
    """INSERT n rows: `overrides` are SQL expressions of g (1..n), with % written %%."""
    from django.db import connection, models

    columns, values, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and isinstance(field, models.AutoField | models.BigAutoField):
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.name in overrides:
            values.append(overrides[field.name])
        elif isinstance(field, models.UUIDField) and not field.null:
            values.append("gen_random_uuid()")
        elif field.has_default() or field.null:
            values.append("%s")
            value = field.get_default() if field.has_default() else None
            params.append(field.get_db_prep_save(value, connection))
        else:
            raise ValueError(f"no value to fill {model.__name__}.{field.name} with")
    table = connection.ops.quote_name(model._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM generate_series(1, %s) AS g"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, n])


def fill(n: int) -> dict[str, Any]:
    from django.db import connection

    from django_jobkit.models import JobRequest, JobResult

    if connection.vendor != "postgresql":
        raise RuntimeError("--big-tables fills tables on PostgreSQL only")
    common = {"job_class": f"'{FILL_CLASS}'", "queue": f"'{FILL_QUEUE}'", "concurrency_key": KEY}
    started = time.monotonic()
    _insert_select(
        JobRequest,
        n,
        {
            **common,
            "created_at": "now() - interval '1 hour'",
            "start_at": "now() + interval '1 day' + g * interval '1 second'",
            "sent_at": "NULL",
        },
    )
    requests_s = time.monotonic() - started
    ended = "now() - (g %% 600000) * interval '1 second'"
    _insert_select(
        JobResult,
        n,
        {
            **common,
            "status": f"'{JobResult.Status.SUCCESSFUL}'",
            "created_at": f"{ended} - interval '2 milliseconds'",
            "started_at": f"{ended} - interval '1 millisecond'",
            "ended_at": ended,
            "return_value": "NULL",
        },
    )
    results_s = time.monotonic() - started - requests_s
    # VACUUM too, not only ANALYZE: otherwise autovacuum wakes up on the new rows in the middle
    # of the measures that follow and competes with them for the CPU.
    with connection.cursor() as cursor:
        for model in (JobRequest, JobResult):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    vacuum_s = time.monotonic() - started - requests_s - results_s
    return {
        "rows": n,
        "requests_seconds": requests_s,
        "results_seconds": results_s,
        "vacuum_seconds": vacuum_s,
        "requests": JobRequest.objects.count(),
        "results": JobResult.objects.count(),
        "note": f"{n} pending delayed requests and {n} results",
    }


def capture(run: Any) -> list[tuple[str, list[str]]]:
    """The SQL of each hot path, as Django sent it."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from bench.jobs import NoopJob
    from django_jobkit import registry
    from django_jobkit.execution.sweeper import Sweeper
    from django_jobkit.execution.tasks import task_for

    queue = run.queue("explain")
    steps: list[tuple[str, list[str]]] = []

    def step(label: str, fn: Any) -> Any:
        with CaptureQueriesContext(connection) as context:
            value = fn()
        steps.append((label, [query["sql"] for query in context.captured_queries]))
        return value

    def enqueue(**options: Any) -> Any:
        with transaction.atomic():
            return NoopJob().run_in_worker(queue=queue, **options)

    request = step("enqueue, one job per transaction", enqueue)
    step(
        "enqueue with a concurrency key (lock, dedup checks)", lambda: enqueue(concurrency_key="x")
    )
    task = task_for(registry.name_for(NoopJob))
    step(
        "worker: one job through jobkit's task (claim, run, record)",
        lambda: task.apply(args=[str(request.job_request_uuid)]),
    )
    step("sweeper: one sweep (beat, every JOBKIT_SWEEP_INTERVAL s)", lambda: Sweeper().sweep())
    return steps


def _plan(sql: str) -> tuple[list[str], bool]:
    """The plan of one statement: EXPLAIN ANALYZE in a rolled-back transaction where it can run
    again (reads, and writes whose row is gone), plain EXPLAIN otherwise."""
    from django.db import DatabaseError, connection, transaction

    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            return [" | ".join(map(str, row)) for row in cursor.fetchall()], False
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                rows = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
        return rows, True
    except DatabaseError:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            return [row[0] for row in cursor.fetchall()], False


def explain(run: Any) -> dict[str, Any]:
    from django_jobkit.models import JobRequest, JobResult

    sizes = {"requests": JobRequest.objects.count(), "results": JobResult.objects.count()}
    # Sequential scans matter on the two tables that grow; the small ones are scanned by design.
    big = [JobRequest._meta.db_table, JobResult._meta.db_table]
    report: list[dict[str, Any]] = []
    seq_scans: list[str] = []
    for label, statements in capture(run):
        for sql in statements:
            if "django_jobkit_" not in sql or not sql.lstrip().upper().startswith(
                ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
            ):
                continue
            plan, analyzed = _plan(sql)
            scans = [line.strip() for line in plan if any(f"Seq Scan on {t} " in line for t in big)]
            seq_scans += [f"{label}: {scan}" for scan in scans]
            report.append(
                {"step": label, "sql": sql, "analyzed": analyzed, "plan": plan, "seq_scans": scans}
            )
    text = render(report, sizes)
    path = run.run_dir / f"explain-{run.system.name}-{run.run_id}.txt"
    path.write_text(text)
    return {
        "table_rows": sizes,
        "statements": report,
        "seq_scans": seq_scans,
        "file": str(path),
        "note": f"{len(report)} statements, {len(seq_scans)} sequential scans of requests or "
        "results",
    }


def render(report: list[dict[str, Any]], sizes: dict[str, int]) -> str:
    lines = [
        f"Hot queries of django-jobkit ({sizes['requests']} requests, {sizes['results']} "
        "results in the tables)",
        "",
    ]
    current = None
    for item in report:
        if item["step"] != current:
            current = item["step"]
            lines += [f"== {current}", ""]
        lines.append(item["sql"])
        lines.append(
            "-- EXPLAIN" + (" (ANALYZE, BUFFERS), rolled back" if item["analyzed"] else "")
        )
        lines += ["   " + line for line in item["plan"]]
        lines.append("")
    return "\n".join(lines)
