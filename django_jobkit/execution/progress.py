"""Progress a running job reports with `Job.set_progress`, and the items it publishes with
`Job.emit`, stored on its process row.

A job may call `set_progress` thousands of times, and may call it inside its own
`transaction.atomic()`. Written through the job's own connection, a value would sit in the
job's transaction (unseen until it commits, gone if it rolls back) and every call would cost
a query. So values go to one writer thread per worker process, whose Django connection is its
own (Django's connections belong to a thread): an attempt's first value is written at once,
later ones at most once per `JOBKIT_PROGRESS_INTERVAL`, the newest pending value replacing an
older one. The thread and its connection are made at the first report, not before (a child
that never reports opens nothing), and closed when the child exits.

When the attempt ends the runner flushes: the last value is written and set on the in-memory
process before the result is recorded, since both ways of recording copy it from there.
Outside a worker (`job.run()` called directly) and in eager mode nothing is written while the
job runs: in eager mode the last value is written when it ends, through the caller's
connection, which is the one that can see the process row.

Emitted items ride along: a value is (fraction, message, every item so far), so the newest
pending value replacing an older one loses no item, and a page reading the row sees them in
order at most one interval late.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from celery.signals import worker_process_shutdown, worker_shutdown
from django.db import connections

from ..conf import jobkit_settings
from ..exceptions import InvalidOutput, InvalidProgress
from ..models import JobProcess
from . import timelimits

if TYPE_CHECKING:
    from ..models import JobProcess as JobProcessRow

logger = logging.getLogger("django_jobkit.progress")

#: Longest message kept: the length of `JobProcess.progress_message`.
MESSAGE_LENGTH = 255

#: After a failed write, the value waits this long before the next try.
RETRY_AFTER = 1.0

#: What the writer stores: (fraction, message, every emitted item, in order).
Value = tuple[float | None, str, tuple[Any, ...]]


def validated(fraction: Any, message: Any) -> tuple[float, str]:
    """The fraction as a float in [0, 1] and the message cut to what the column holds."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float | Decimal):
        raise InvalidProgress(
            f"set_progress: fraction must be a number from 0 to 1, got {fraction!r} "
            f"({type(fraction).__name__})"
        )
    value = float(fraction)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidProgress(f"set_progress: fraction must be from 0 to 1, got {fraction!r}")
    if not isinstance(message, str):
        raise InvalidProgress(
            f"set_progress: message must be a str, got {type(message).__name__} {message!r}"
        )
    return value, message[:MESSAGE_LENGTH]


def validated_item(data: Any) -> Any:
    """`data` as it will read back from the database: JSON, or InvalidOutput."""
    try:
        return json.loads(json.dumps(data, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidOutput(
            f"emit: data must be JSON (dict, list, str, number, bool or None), got "
            f"{type(data).__name__} {data!r:.100}: {exc}"
        ) from None


class Writer:
    """The thread that writes reported values, through a database connection of its own."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._changed = threading.Condition()
        self._pending: dict[int, Value] = {}
        self._next_write: dict[int, float] = {}  # process pk -> monotonic time of its next write
        self._written: dict[int, Value] = {}  # process pk -> the value it last wrote
        self._writing: int | None = None
        self._stopping = False
        self.thread = threading.Thread(target=self._loop, name="jobkit-progress", daemon=True)
        self.thread.start()

    def submit(self, pk: int, value: Value) -> None:
        with self._changed:
            self._pending[pk] = value
            self._changed.notify_all()

    def take(self, pk: int, latest: Value) -> bool:
        """Stop writing for this process; whether `latest` still has to be written (it is
        pending, or what was last written differs, e.g. after a failed write). Waits for a
        write in flight, so that an older value cannot land after the caller's."""
        with self._changed:
            while self._writing == pk:
                self._changed.wait()
            self._next_write.pop(pk, None)
            self._pending.pop(pk, None)
            return self._written.pop(pk, None) != latest

    def stop(self, timeout: float = 5.0) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _next(self) -> tuple[int, Value] | None:
        """Wait for a value that is due; None when stopping."""
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                due = [pk for pk in self._pending if self._next_write.get(pk, 0.0) <= now]
                if due:
                    pk = due[0]
                    self._writing = pk
                    self._next_write[pk] = now + jobkit_settings.PROGRESS_INTERVAL
                    return pk, self._pending.pop(pk)
                waits = [self._next_write.get(pk, 0.0) - now for pk in self._pending]
                self._changed.wait(min(waits) if waits else None)
            return None

    def _loop(self) -> None:
        try:
            while (item := self._next()) is not None:
                pk, value = item
                try:
                    JobProcess.objects.set_progress(pk, *value)
                    with self._changed:
                        self._written[pk] = value
                except Exception:
                    logger.exception("could not store the progress of process %s", pk)
                    connections[JobProcess.objects.primary_alias()].close()  # a new one next
                    with self._changed:
                        self._pending.setdefault(pk, value)  # unless a newer one came
                        self._next_write[pk] = time.monotonic() + RETRY_AFTER
                finally:
                    with self._changed:
                        self._writing = None
                        self._changed.notify_all()
        finally:
            connections.close_all()  # this thread's connections only


_writer: Writer | None = None
_writer_lock = threading.Lock()


def writer() -> Writer:
    """This process's writer, started on first use (a forked child starts its own)."""
    global _writer
    with _writer_lock:
        if _writer is None or _writer.pid != os.getpid() or not _writer.thread.is_alive():
            _writer = Writer()
        return _writer


def stop_writer() -> None:
    """Stop this process's writer and close its connection (a child exiting)."""
    global _writer
    with _writer_lock:
        current, _writer = _writer, None
    if current is not None and current.pid == os.getpid():
        current.stop()


class Reporter:
    """What one running attempt reported; `own_connection` False holds values in memory."""

    def __init__(self, process: JobProcessRow, own_connection: bool) -> None:
        self.process = process
        self.own_connection = own_connection
        self.last: Value | None = None

    def report(self, fraction: float, message: str) -> None:
        output = self.last[2] if self.last is not None else ()
        self._store((fraction, message, output))

    def emit(self, item: Any) -> None:
        fraction, message, output = self.last if self.last is not None else (None, "", ())
        if len(output) >= jobkit_settings.OUTPUT_MAX:
            raise InvalidOutput(
                f"emit: this attempt already published JOBKIT_OUTPUT_MAX={len(output)} items"
            )
        self._store((fraction, message, (*output, item)))

    def _store(self, value: Value) -> None:
        self.last = value
        self.process.progress, self.process.progress_message = value[0], value[1]
        self.process.output = list(value[2]) or None
        if self.own_connection:
            writer().submit(self.process.pk, value)

    def flush(self) -> None:
        """Write the last value now, through the caller's connection, if it is not written."""
        latest = self.last
        if latest is None:
            return
        if self.own_connection and not writer().take(self.process.pk, latest):
            return  # the writer already stored the last value
        try:
            JobProcess.objects.set_progress(self.process.pk, *latest)
        except Exception:
            logger.exception("could not store the last progress of process %s", self.process.pk)


_current: ContextVar[Reporter | None] = ContextVar("jobkit_progress", default=None)


@contextmanager
def reporting(process: JobProcessRow, *, own_connection: bool = True) -> Iterator[Reporter]:
    """Let `report` reach this attempt while the block runs; flush when it ends."""
    reporter = Reporter(process, own_connection)
    token = _current.set(reporter)
    try:
        yield reporter
    except BaseException as exc:
        _current.reset(token)
        if not timelimits.killed_at_hard_limit(process, exc):  # then the child only exits
            reporter.flush()
        raise
    _current.reset(token)
    reporter.flush()


def report(fraction: Any, message: Any = "") -> None:
    """Store the progress of the attempt running here; checked, then dropped outside one."""
    value = validated(fraction, message)
    reporter = _current.get()
    if reporter is not None:
        reporter.report(*value)


def emit(data: Any) -> None:
    """Publish one item of the attempt running here; checked, then dropped outside one."""
    item = validated_item(data)
    reporter = _current.get()
    if reporter is not None:
        reporter.emit(item)


@worker_process_shutdown.connect(weak=False, dispatch_uid="jobkit-progress-child-exit")
def _on_child_exit(**kwargs: Any) -> None:
    stop_writer()


@worker_shutdown.connect(weak=False, dispatch_uid="jobkit-progress-worker-exit")
def _on_worker_exit(**kwargs: Any) -> None:
    stop_writer()  # solo and threads pools report from the main process
