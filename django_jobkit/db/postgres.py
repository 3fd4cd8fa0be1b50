"""PostgreSQL renderings of the query layer's hot writes: claim, record and enqueue's INSERTs.

The portable ORM path takes five round trips to claim (BEGIN, SELECT ... FOR UPDATE SKIP
LOCKED, INSERT, DELETE, COMMIT) and four to record. PostgreSQL moves a row between tables in
one autocommitted statement, `WITH moved AS (DELETE ... RETURNING ...) INSERT ... SELECT`,
with the same guarantees: the row lock makes exactly one delivery win, and a process already
ended elsewhere yields no second result. Anything unusual (a request
that is gone or early, a retry to write) falls back to the ORM path in `models.querysets`,
which renders the same moves; the field lists come from there too (`models.COPIED`), and this
module imports no models: the query layer passes them in.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.utils import timezone

try:
    from psycopg.pq import TransactionStatus

    _IDLE: Any = TransactionStatus.IDLE
except ImportError:  # psycopg2, or no PostgreSQL driver: BEGIN goes on its own
    _IDLE = None

_CLAIMED = [
    "uuid",
    "started_at",
    "host",
    "pid",
    "pid_start_time",
    "worker_name",
    "worker_pid",
    "celery_task_id",
    "device",
]
_ENDED = [
    "uuid",
    "host",
    "pid",
    "worker_name",
    "celery_task_id",
    "progress",
    "progress_message",
    "device",
    "output",
]
_RECORDED = [
    "uuid",
    "status",
    "error",
    "traceback",
    "error_class",
    "return_value",
    "started_at",
    "ended_at",
]


def usable(using: str) -> bool:
    """Whether claim and record may take the one-statement path on this database: PostgreSQL
    in autocommit mode (inside a caller's transaction the ORM path keeps its semantics)."""
    connection = connections[using]
    return connection.vendor == "postgresql" and connection.get_autocommit()


def _q(using: str, name: str) -> str:
    return connections[using].ops.quote_name(name)


def _columns(using: str, model: type[Any], names: list[str]) -> list[str]:
    return [_q(using, model._meta.get_field(name).column) for name in names]


@cache
def _claim_sql(using: str, JobRequest: Any, JobProcess: Any, JobQueue: Any) -> str:
    # A plain DELETE of the one row: a second delivery claiming at the same instant waits for
    # the row lock, then finds the row gone and gets nothing (PostgreSQL re-checks the WHERE).
    # RETURNING only what the worker does not know yet: formatting and parsing the other
    # columns cost a quarter of the statement.
    request, process, queue = JobRequest._meta, JobProcess._meta, JobQueue._meta
    # A request of a paused queue is not taken here: the portable path puts it back to wait;
    # nor one under a rate limit: the portable path counts its window.
    paused = (
        f"NOT EXISTS (SELECT 1 FROM {_q(using, queue.db_table)} q "
        f"WHERE q.name = {_q(using, request.db_table)}.queue AND q.paused_at IS NOT NULL) "
        "AND (limits IS NULL OR NOT jsonb_path_exists(limits, '$[*].rate'))"
    )
    copied = ", ".join(_columns(using, JobRequest, _copied(JobRequest)))
    returning = ", ".join(
        [_q(using, process.pk.column), *_columns(using, JobProcess, _copied(JobRequest))]
    )
    placeholders = ", ".join(["%s"] * len(_CLAIMED))
    return (
        f"WITH claimed AS (DELETE FROM {_q(using, request.db_table)} "
        f"WHERE job_request_uuid = %s AND (start_at IS NULL OR start_at <= %s) AND {paused} "
        f"RETURNING {copied}) "
        f"INSERT INTO {_q(using, process.db_table)} "
        f"({copied}, {', '.join(_columns(using, JobProcess, _CLAIMED))}) "
        f"SELECT {copied}, {placeholders} FROM claimed RETURNING {returning}"
    )


def _copied(model: Any) -> list[str]:
    """The fields a request, process and result share (the query layer's `COPIED`)."""
    return model.COPIED_FIELDS


def claim(
    using: str,
    JobRequest: Any,
    JobProcess: Any,
    JobQueue: Any,
    request_uuid: Any,
    claimed: dict[str, Any],
) -> Any:
    """Move the request into a new process row; None if no due request was there to take."""
    now = timezone.now()
    # A claim names its device only in a GPU worker's child; the ORM path takes the default.
    values = {"uuid": uuid.uuid4(), "started_at": now, "device": "", **claimed}
    sql = _claim_sql(using, JobRequest, JobProcess, JobQueue)
    row = fetchone(using, sql, [request_uuid, now, *(values[n] for n in _CLAIMED)])
    if row is None:
        return None
    fields = {
        "id": row[0],
        **dict(zip(_copied(JobRequest), row[1:], strict=True)),
        **values,
        "progress": None,
        "progress_message": "",
        "output": None,
        "cancel_requested_at": None,
        "heartbeat_at": None,
    }
    return _from_row(JobProcess, using, fields)


def _from_row(model: type[models.Model], using: str, fields: dict[str, Any]) -> Any:
    """A model instance from database values of all its concrete fields, as a queryset builds
    it (from_db_value conversions, then positional __init__)."""
    converters, attnames = _row_layout(model)
    values = [fields[name] for name in attnames]
    if converters:
        connection = connections[using]
        for i, field in converters:
            values[i] = field.from_db_value(values[i], None, connection)
    return model.from_db(using, attnames, values)


@cache
def _row_layout(model: type[Any]) -> tuple[list[tuple[int, Any]], list[str]]:
    fields = model._meta.concrete_fields
    converters = [(i, f) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    return converters, [f.attname for f in fields]


@cache
def _record_sql(using: str, JobProcess: Any, JobResult: Any) -> str:
    process, result = JobProcess._meta, JobResult._meta
    copied = ", ".join(_columns(using, JobProcess, _copied(JobProcess)))
    ended = ", ".join(_columns(using, JobProcess, _ENDED))
    result_columns = [
        *_columns(using, JobResult, _copied(JobResult)),
        *_columns(using, JobResult, ["job_process_uuid", "host", "pid", "worker_name"]),
        *_columns(
            using, JobResult, ["celery_task_id", "progress", "progress_message", "device", "output"]
        ),
        *_columns(using, JobResult, _RECORDED),
    ]
    placeholders = ", ".join("%s::jsonb" if name == "return_value" else "%s" for name in _RECORDED)
    return (
        f"WITH ended AS (DELETE FROM {_q(using, process.db_table)} "
        f"WHERE {_q(using, process.pk.column)} = %s RETURNING {copied}, {ended}) "
        f"INSERT INTO {_q(using, result.db_table)} ({', '.join(result_columns)}) "
        f"SELECT {copied}, {ended}, {placeholders} FROM ended "
        f"RETURNING {_q(using, result.pk.column)}"
    )


def record(
    using: str, JobProcess: Any, JobResult: Any, process: Any, values: dict[str, Any]
) -> Any:
    """Replace the process with a result holding `values`; None if it had already ended."""
    values = {"uuid": uuid.uuid4(), **values}
    return_value = values["return_value"]
    params = [
        process.pk,
        *(
            (None if return_value is None else json.dumps(return_value, cls=DjangoJSONEncoder))
            if name == "return_value"
            else values[name]
            for name in _RECORDED
        ),
    ]
    row = fetchone(using, _record_sql(using, JobProcess, JobResult), params)
    if row is None:
        return None
    fields = {
        "id": row[0],
        **{name: getattr(process, name) for name in _copied(JobProcess)},
        "job_process_uuid": process.uuid,
        **{name: getattr(process, name) for name in _ENDED if name != "uuid"},
        **values,
        "retry_job_request_uuid": None,
    }
    _, attnames = _row_layout(JobResult)  # values from Python: nothing to convert
    return JobResult.from_db(using, attnames, [fields[name] for name in attnames])


def insert_returning_id(using: str, sql: str, params: list[Any]) -> int:
    """Run an `INSERT ... RETURNING id` and return the id; when it is the first statement of the
    caller's transaction, its BEGIN travels with it.

    psycopg opens a transaction by sending BEGIN on its own and waiting for the answer before
    the first statement: a round trip of its own, about a seventh of
    `with transaction.atomic(): job.run_in_worker()` here. `BEGIN; INSERT ...` as one
    simple-protocol query (the protocol of Django's client-side binding, which already
    interpolates every statement) takes one, and PostgreSQL answers with the INSERT's result.
    Observed connections (DEBUG, CaptureQueriesContext, execute wrappers) take the usual path.
    """
    connection = connections[using]
    # Inside atomic() the connection is open and in manual-commit mode already.
    if connection.in_atomic_block and not (
        connection.queries_logged or connection.execute_wrappers
    ):
        connection.close_if_health_check_failed()
        raw = connection.connection
        pgconn = getattr(raw, "pgconn", None)  # psycopg 3's libpq connection
        if pgconn is not None and pgconn.transaction_status == _IDLE:
            with connection.wrap_database_errors:
                return _begin_and_insert(raw, sql, params)
    row = fetchone(using, sql, params)
    assert row is not None  # INSERT ... RETURNING gives its row
    return int(row[0])


def _begin_and_insert(raw: Any, sql: str, params: list[Any]) -> int:
    from psycopg import ClientCursor, errors, pq

    with ClientCursor(raw) as cursor:
        query = cursor.mogrify(sql, params)
    encoding = raw.info.encoding
    with raw.lock:  # what psycopg holds around its own statements
        result = raw.pgconn.exec_(b"BEGIN; " + query.encode(encoding))
    if result.status != pq.ExecStatus.TUPLES_OK:
        if raw.pgconn.status != pq.ConnStatus.OK:
            raise errors.OperationalError(result.get_error_message(encoding))
        raise errors.error_from_result(result, encoding=encoding)
    return int(result.get_value(0, 0))


def fetchone(using: str, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """Run one hot statement and fetch its one row, on the driver's cursor when nobody watches.

    Django's cursor wrapper (a new wrapper and driver cursor per statement, the execute-wrapper
    chain) costs tens of microseconds of Python per statement, on paths where each statement
    is one round trip. It is used whenever anything observes queries (DEBUG,
    CaptureQueriesContext, `connection.execute_wrapper`), so those still see every statement;
    errors are Django's either way, and the health check runs as for any cursor.
    """
    connection = connections[using]
    if connection.queries_logged or connection.execute_wrappers:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def insert_one(using: str, request: models.Model) -> None:
    """INSERT one request with a statement compiled once, not per call.

    The ORM compiles its INSERT anew for every save (about 0.2 ms of Python here), a third
    of what the database itself takes for the INSERT and its commit.
    """
    fields, sql = _insert_statement(using, type(request))
    params = [
        json.dumps(value) if json_field else value
        for value, json_field in ((getattr(request, f.attname), j) for f, j in fields)
    ]
    request.pk = insert_returning_id(using, sql, params)
    request._state.adding = False
    request._state.db = using


@cache
def _insert_statement(using: str, JobRequest: Any) -> tuple[list[tuple[Any, bool]], str]:
    connection = connections[using]
    meta = JobRequest._meta
    fields = [
        (f, f.get_internal_type() == "JSONField") for f in meta.concrete_fields if not f.primary_key
    ]
    columns = ", ".join(connection.ops.quote_name(f.column) for f, _ in fields)
    values = ", ".join("%s::jsonb" if is_json else "%s" for _, is_json in fields)
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES ({values}) "
        f"RETURNING {connection.ops.quote_name(meta.pk.column)}"
    )
    return fields, sql


def insert_many(using: str, JobRequest: Any, requests: list[Any]) -> None:
    """INSERT many requests in one statement over arrays, setting their pks.

    Django's `bulk_create` prepares every value of every row in Python (about 70 µs a row
    here); `INSERT ... SELECT FROM unnest(arrays)` hands PostgreSQL one array per column, and
    only for the columns whose values differ: a column equal in every row is one value, and a
    column equal to another (a first attempt's root is its own uuid) reuses that one's array.
    Dumping arrays is psycopg's Python, per element.
    """
    connection = connections[using]
    meta = JobRequest._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    selected: list[str] = []
    scalars: list[Any] = []
    arrays: list[list[Any]] = []
    array_types: list[str] = []
    for field in fields:
        values = [getattr(r, field.attname) for r in requests]
        is_json = field.get_internal_type() == "JSONField"
        first = values[0]
        # The uuid stays an array even for one row: unnest needs one, RETURNING matches on it.
        if field.attname != "job_request_uuid" and all(value == first for value in values):
            scalars.append(json.dumps(first) if is_json else first)
            selected.append(f"%s::{'jsonb' if is_json else field.db_type(connection)}")
            continue
        if is_json:
            values = [json.dumps(v) for v in values]
        column = next((i for i, other in enumerate(arrays) if other == values), None)
        if column is None:
            column = len(arrays)
            arrays.append(values)
            array_types.append(_array_type(field, connection))
        selected.append(f"c{column}::jsonb" if is_json else f"c{column}")
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    unnest = ", ".join(f"%s::{t}" for t in array_types)
    names = ", ".join(f"c{i}" for i in range(len(arrays)))
    sql = (
        f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "
        f"SELECT {', '.join(selected)} FROM unnest({unnest}) AS t({names}) "
        f"RETURNING {connection.ops.quote_name(meta.pk.column)}, job_request_uuid"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*scalars, *arrays])
        pks = dict((uuid_, pk) for pk, uuid_ in cursor.fetchall())
    for request in requests:
        request.pk = pks[request.job_request_uuid]
        request._state.adding = False
        request._state.db = using


def _array_type(field: Any, connection: Any) -> str:
    if field.get_internal_type() == "JSONField":
        return "text[]"
    return f"{field.db_type(connection)}[]"
