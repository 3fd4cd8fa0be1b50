#!/usr/bin/env python
"""The admin at scale: every list, filter, search, far page and detail page over 1,000,000
results and 100,000 waiting requests in PostgreSQL, timed against a 300 ms budget.

    .venv/bin/python bench/admin_scale.py                       # fill, ANALYZE, measure
    .venv/bin/python bench/admin_scale.py --no-fill             # measure the rows already there
    .venv/bin/python bench/admin_scale.py --results 100000 --explain

The rows are written by one `INSERT ... SELECT ... FROM generate_series` per table (the columns
taken from the models, as `bench/bigtables.py` does), then VACUUM ANALYZE, so the planner and
the lists' estimated counts know the sizes. Each page is requested through Django's test client
in this process, logged in as a superuser: the time is the server's (URL resolution, queries,
template rendering), not a browser's, the median of `--repeat` runs after one warm-up; the
query count is CaptureQueriesContext's. A page over budget gets the plan of its slowest query
(EXPLAIN ANALYZE; it only reads). The tables of the database named by --postgres-url are
emptied first: give it one of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_MS = 300.0
CLASSES = 20
QUEUES = ("default", "slow", "mail", "reports", "gpu")
WORKERS = 20
ERRORS = ("ConnectionError", "KeyError", "ValueError", "TimeoutError")
#: A user's e-mail as the argument, so that a search in the parameters finds something.
PARAMETERS = """('{"args": [{"email": "user' || g || '@example.com"}], "kwargs": {}}')::jsonb"""


def setup(url: str) -> None:
    """Point Django at the bench's own database, creating and migrating it when missing."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()
    call_command("migrate", verbosity=0)


@contextmanager
def indexes_built_after(*models: Any) -> Iterator[None]:
    """The tables' plain indexes dropped for the INSERT and built again after it: one sorted
    build per index is several times faster than a million insertions into each (a random
    uuid's most of all). Unique constraints are dropped and added again the same way; the
    primary key stays. The definitions are PostgreSQL's own (pg_indexes, pg_constraint)."""
    from django.db import connection

    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
            "FROM pg_constraint c WHERE c.contype = 'u' AND c.conrelid::regclass::text = ANY(%s)",
            [[connection.ops.quote_name(t) for t in tables] + tables],
        )
        constraints = cursor.fetchall()
        for table, name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
            "AND NOT x.indisunique",
            [tables],
        )
        saved = cursor.fetchall()
        for name, _ in saved:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '256MB'")
            for _, definition in saved:
                cursor.execute(definition)
            for table, name, definition in constraints:
                quoted = connection.ops.quote_name(name)
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition}")


def fill(results: int, requests: int, processes: int) -> dict[str, float]:
    """Empty jobkit's tables and write the rows; seconds per step."""
    from django.db import connection

    from bench.bigtables import _insert_select
    from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker

    models = (JobRequest, JobProcess, JobResult, JobWorker)
    timings: dict[str, float] = {}
    started = time.monotonic()
    with connection.cursor() as cursor:
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        cursor.execute(f"TRUNCATE {tables}")
    queues = "(ARRAY[{}])[1 + g %% {}]".format(", ".join(f"'{q}'" for q in QUEUES), len(QUEUES))
    common = {
        "job_class": f"'bench.jobs.Job' || (g %% {CLASSES})",
        "queue": queues,
        "parameters": PARAMETERS,
        "concurrency_key": "CASE WHEN g %% 2 = 0 THEN 'key-' || g ELSE '' END",
        "retries": "2",
    }
    # Chains of three attempts: the detail pages read the whole chain.
    chain = {
        "job_request_uuid": "md5('request-' || g)::uuid",
        "root_uuid": "md5('request-' || (g - g %% 3))::uuid",
        "retry_attempt": "g %% 3",
    }
    ended = "now() - (g * interval '2 seconds')"  # a month of results
    status = (
        "CASE WHEN g %% 100 < 85 THEN 'SUCCESSFUL' WHEN g %% 100 < 95 THEN 'ERRORED' "
        "WHEN g %% 100 < 98 THEN 'LOST' ELSE 'CANCELLED' END"
    )
    errors = "(ARRAY[{}])[1 + g %% {}]".format(", ".join(f"'{e}'" for e in ERRORS), len(ERRORS))
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    with indexes_built_after(JobResult):
        _insert_select(
            JobResult,
            results,
            {
                **common,
                **chain,
                "status": status,
                "error": f"CASE WHEN g %% 100 >= 85 THEN {errors} || ': attempt ' || g ELSE '' END",
                "traceback": "CASE WHEN g %% 100 >= 85 THEN 'Traceback (most recent call last):"
                "\n  File \"job.py\", line 1\n' ELSE '' END",
                "retry_job_request_uuid": "CASE WHEN g %% 3 < 2 AND g %% 100 >= 85 "
                "THEN md5('request-' || (g + 1))::uuid END",
                "worker_name": f"'celery@worker' || (g %% {WORKERS})",
                "host": f"'worker' || (g %% {WORKERS})",
                "created_at": f"{ended} - interval '2 seconds'",
                "started_at": f"{ended} - interval '1 second'",
                "ended_at": ended,
                "return_value": "NULL",
            },
        )
    timings["results, with their indexes"] = time.monotonic() - started
    with indexes_built_after(JobRequest):
        _insert_select(
            JobRequest,
            requests,
            {
                **common,
                "job_request_uuid": "md5('waiting-' || g)::uuid",
                "root_uuid": "md5('waiting-' || g)::uuid",
                "priority": "(ARRAY[-10, 0, 0, 10])[1 + g %% 4]",
                "created_at": "now() - (g * interval '1 second')",
                "start_at": "CASE WHEN g %% 5 = 0 THEN now() + g * interval '1 second' END",
                "sent_at": "CASE WHEN g %% 5 = 0 THEN NULL "
                "ELSE now() - g * interval '1 second' END",
            },
        )
    timings["requests"] = time.monotonic() - started - sum(timings.values())
    _insert_select(
        JobProcess,
        processes,
        {
            **common,
            "job_request_uuid": "md5('running-' || g)::uuid",
            "root_uuid": "md5('running-' || g)::uuid",
            "worker_name": f"'celery@worker' || (g %% {WORKERS})",
            "host": f"'worker' || (g %% {WORKERS})",
            "worker_pid": "1000",
            "pid": "2000 + g",
            "progress": "(g %% 100) / 100.0",
            "started_at": "now() - g * interval '1 second'",
        },
    )
    _insert_select(
        JobWorker,
        WORKERS,
        {
            "name": "'celery@worker' || g",
            "host": "'worker' || g",
            "pid": "1000",
            "queues": """'["default", "slow"]'::jsonb""",
        },
    )
    timings["processes, workers"] = time.monotonic() - started - sum(timings.values())
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    timings["vacuum analyze"] = time.monotonic() - started - sum(timings.values())
    return timings


def pages() -> list[tuple[str, str]]:
    """(label, URL) of every page measured: each list's default view, each of its filters
    once (the first value it offers), a search, page 100 where there is one, a detail page;
    the dashboard and its refresh."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import NoReverseMatch, reverse

    from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker

    superuser = _superuser()
    factory = RequestFactory()
    out: list[tuple[str, str]] = []
    searches = {
        JobResult: "ConnectionError",
        JobRequest: "key-10",
        JobProcess: "key-10",
        JobWorker: "worker1",
    }
    for model in (JobResult, JobRequest, JobProcess, JobWorker):
        name = model._meta.model_name
        changelist = reverse(f"admin:django_jobkit_{name}_changelist")
        model_admin = admin.site._registry[model]
        request = factory.get(changelist)
        request.user = superuser
        out.append((f"{name}: list", changelist))
        for spec in model_admin.list_filter:
            choice = _first_choice(model_admin, request, spec)
            if choice is not None:
                label = "&".join(f"{k}={v}" for k, v in choice.items())
                out.append((f"{name}: filter {label}", f"{changelist}?{urlencode(choice)}"))
        out.append((f"{name}: search {searches[model]}", f"{changelist}?q={searches[model]}"))
        if model.objects.count() > 100 * model_admin.list_per_page:
            out.append((f"{name}: page 100", f"{changelist}?p=100"))
        row = model.objects.order_by("pk")[model.objects.count() // 2 :].first()
        if row is not None:
            out.append(
                (f"{name}: detail", reverse(f"admin:django_jobkit_{name}_change", args=[row.pk]))
            )
    try:
        dashboard = reverse("admin:django_jobkit_dashboard")
    except NoReverseMatch:
        pass  # a version without the dashboard
    else:
        out.append(("dashboard", dashboard))
        out.append(("dashboard: its refresh (fragment)", f"{dashboard}?fragment=1"))
    root = JobResult.objects.order_by("pk").values_list("root_uuid", flat=True)[1000]
    out.insert(1, ("jobresult: filter root_uuid (a chain)", f"{out[0][1]}?root_uuid={root}"))
    return out


def _first_choice(model_admin: Any, request: Any, spec: Any) -> dict[str, str] | None:
    """The query parameters of the first value a list filter offers (its second choice, past
    "All"), or None when it offers none."""
    if isinstance(spec, str):
        field = model_admin.model._meta.get_field(spec)
        if field.choices:
            return {f"{spec}__exact": str(field.choices[1][0])}
        return None
    instance = spec(request, {}, model_admin.model, model_admin)
    for value, _ in list(instance.lookup_choices or [])[:10]:
        chosen = spec(
            request, {instance.parameter_name: [str(value)]}, model_admin.model, model_admin
        )
        if chosen.queryset(request, model_admin.model.objects.all()).exists():
            return {instance.parameter_name: str(value)}
    return None


def _superuser() -> Any:
    from django.contrib.auth.models import User

    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


class Measure(NamedTuple):
    ms: float  # wall time of the request, as the server spends it
    cpu_ms: float  # of that, this process's CPU (Python and templates; not the database's)
    queries: int
    slowest: dict[str, Any]
    status: int


def measure(url: str, repeat: int) -> Measure:
    """Median milliseconds, query count and slowest query of one page, and its status code."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(_superuser())
    client.get(url)  # warm-up: templates compiled, connection open
    times, cpu, status = [], [], 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as context:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        status = response.status_code
    queries = context.captured_queries
    slowest = max(queries, key=lambda q: float(q["time"])) if queries else {}
    return Measure(statistics.median(times), statistics.median(cpu), len(queries), slowest, status)


def plan(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres-url", default="postgres://postgres@127.0.0.1:5432/jobkit_admin_scale"
    )
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-fill", action="store_true", help="measure the rows already there")
    parser.add_argument("--explain", action="store_true", help="every page's slowest plan")
    args = parser.parse_args(argv)

    setup(args.postgres_url)
    if not args.no_fill:
        for step, seconds in fill(args.results, args.requests, args.processes).items():
            print(f"fill {step}: {seconds:.1f} s", flush=True)
    from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker

    sizes = ", ".join(
        f"{m._meta.verbose_name_plural} {m.objects.count():,}"
        for m in (JobResult, JobRequest, JobProcess, JobWorker)
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"rows: {sizes}; budget {BUDGET_MS:.0f} ms, median of {args.repeat}")
    print(f"load average {load} on {os.cpu_count()} CPUs (others' work slows the wall time)\n")
    width = 50
    print(f"| {'page':<{width}} | server ms | of it CPU | queries | verdict |")
    print(f"|{'-' * (width + 2)}|----------:|----------:|--------:|---------|")
    failed = 0
    for label, url in pages():
        m = measure(url, args.repeat)
        ok = m.ms < BUDGET_MS and m.status == 200
        failed += not ok
        verdict = "PASS" if ok else f"FAIL{'' if m.status == 200 else f' ({m.status})'}"
        print(
            f"| {label:<{width}} | {m.ms:9.1f} | {m.cpu_ms:9.1f} | {m.queries:7d} | {verdict:<7} |",
            flush=True,
        )
        if m.slowest and (not ok or args.explain):
            print(f"  slowest query ({float(m.slowest['time']) * 1000:.1f} ms): {m.slowest['sql']}")
            print(plan(m.slowest["sql"]), flush=True)
    print(f"\n{failed} page(s) over budget" if failed else "\nevery page under budget")
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
