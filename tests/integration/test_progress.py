"""The progress writer: first value at once, then at most one write per interval with the
newest value winning, a pending value written by the writer's timer, the last one flushed."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from django_jobkit.execution import progress
from django_jobkit.models import JobProcess, JobRequest, JobResult
from django_jobkit.models.querysets import JobProcessQuerySet
from tests.conftest import wait_for
from tests.integration.test_celery_publishing import eager  # noqa: F401 - a fixture
from tests.jobs import NoopJob, ProgressFloodJob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _stop_the_writer() -> Iterator[None]:
    """The writer's connection closes as a worker child's would at exit, before the test
    database is dropped."""
    yield
    progress.stop_writer()
    assert not any(t.name == "jobkit-progress" for t in threading.enumerate())


@pytest.fixture
def process() -> JobProcess:
    request = NoopJob().run_in_worker(delay=3600)
    assert request is not None
    JobRequest.objects.filter(pk=request.pk).update(start_at=None)  # due, and never sent
    by = {"host": "h", "pid": 1, "pid_start_time": None, "worker_name": "w", "worker_pid": 1}
    claimed, _ = JobRequest.objects.claim(request.uuid, {**by, "celery_task_id": "t"})
    assert claimed is not None
    return claimed


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float | None]]:
    """Each progress write as it reaches the database: (monotonic time, fraction)."""
    seen: list[tuple[float, float | None]] = []
    original = JobProcessQuerySet.set_progress

    def counting(self: Any, pk: int, fraction: float | None, message: str, output=()) -> int:
        seen.append((time.monotonic(), fraction))
        return original(self, pk, fraction, message, output)

    monkeypatch.setattr(JobProcessQuerySet, "set_progress", counting)
    return seen


def stored(process: JobProcess) -> tuple[float | None, str]:
    row = JobProcess.objects.get(pk=process.pk)
    return row.progress, row.progress_message


def test_a_flood_of_values_is_coalesced_and_the_last_one_flushed(process, writes, settings):
    settings.JOBKIT_PROGRESS_INTERVAL = 0.25
    started = time.monotonic()
    with progress.reporting(process):
        for i in range(1, 50001):
            progress.report(i / 50000, f"{i}")
        elapsed = time.monotonic() - started
    assert stored(process) == (1.0, "50000")
    assert (process.progress, process.progress_message) == (1.0, "50000")
    # The first write at once, one per 0.25 s at most after it, and the flush.
    assert 2 <= len(writes) <= 2 + elapsed / 0.25 + 1, (len(writes), elapsed)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(writes[:-1])]  # the flush aside
    assert all(gap >= 0.24 for gap in gaps), gaps


def test_a_flood_of_emitted_items_loses_none_and_keeps_their_order(process, writes, settings):
    settings.JOBKIT_PROGRESS_INTERVAL = 0.25
    with progress.reporting(process):
        progress.report(0.5, "half")
        for i in range(1000):
            progress.emit({"segment": i})
        progress.report(1.0, "done")  # progress after items keeps them
    row = JobProcess.objects.get(pk=process.pk)
    assert row.output == [{"segment": i} for i in range(1000)]
    assert (row.progress, row.progress_message) == (1.0, "done")
    assert process.output == row.output  # what the result copies
    assert len(writes) < 50  # coalesced, as progress is


def test_emit_refuses_what_json_cannot_carry_and_items_past_the_limit(process, settings):
    from django_jobkit.exceptions import InvalidOutput

    with pytest.raises(InvalidOutput, match="emit: data must be JSON"):
        progress.emit({"at": object()})
    with pytest.raises(InvalidOutput, match="must be JSON"):
        progress.emit(float("nan"))
    settings.JOBKIT_OUTPUT_MAX = 2
    with progress.reporting(process):
        progress.emit("a")
        progress.emit("b")
        with pytest.raises(InvalidOutput, match="JOBKIT_OUTPUT_MAX=2"):
            progress.emit("c")
    assert JobProcess.objects.get(pk=process.pk).output == ["a", "b"]


def test_a_pending_value_is_written_by_the_timer_without_another_call(process, writes, settings):
    settings.JOBKIT_PROGRESS_INTERVAL = 0.3
    with progress.reporting(process):
        progress.report(0.1, "first")
        wait_for(lambda: stored(process) == (0.1, "first"), what="the first value")
        progress.report(0.2, "second")  # within the interval: pending
        wait_for(lambda: stored(process) == (0.2, "second"), what="the timer's write")
        first, second = writes[0][0], writes[1][0]
        assert second - first >= 0.29
        assert len(writes) == 2


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite has one writer: the open transaction holds it"
)
def test_progress_written_inside_a_transaction_of_the_caller_is_not_undone(process, settings):
    settings.JOBKIT_PROGRESS_INTERVAL = 0.05
    with progress.reporting(process), pytest.raises(RuntimeError), transaction.atomic():
        progress.report(0.7, "in atomic")
        # Read inside this transaction: a committed write of another connection.
        wait_for(lambda: stored(process) == (0.7, "in atomic"), what="the writer's write")
        raise RuntimeError("roll back")
    assert stored(process) == (0.7, "in atomic")


def test_outside_a_worker_set_progress_is_checked_and_dropped():
    progress.stop_writer()
    _pid, writers = ProgressFloodJob(calls=5).run()  # run() called directly: no error ...
    assert writers == []  # ... and nothing started to write
    with pytest.raises(ValueError, match="fraction"):
        ProgressFloodJob().set_progress(2)


def test_eager_mode_stores_the_last_value_on_the_result(eager):  # noqa: F811
    request = ProgressFloodJob(calls=500).run_in_worker()
    assert request is not None
    result = JobResult.objects.get(job_request_uuid=request.uuid)
    assert (result.progress, result.progress_message) == (1.0, "500/500")


def test_when_the_writer_cannot_write_the_last_value_is_still_stored(
    process, monkeypatch, settings
):
    settings.JOBKIT_PROGRESS_INTERVAL = 0.05
    original = JobProcessQuerySet.set_progress
    failed: list[float | None] = []

    def failing_in_the_writer(
        self: Any, pk: int, fraction: float | None, message: str, output=()
    ) -> int:
        if threading.current_thread().name == "jobkit-progress":
            failed.append(fraction)
            raise ConnectionError("database went away")
        return original(self, pk, fraction, message, output)

    monkeypatch.setattr(JobProcessQuerySet, "set_progress", failing_in_the_writer)
    with progress.reporting(process):
        progress.report(0.6, "six")
        wait_for(lambda: failed, what="a failed write")
    assert failed == [0.6]
    assert stored(process) == (0.6, "six")  # written by the flush instead
