"""The systems compared, each behind the same small interface the driver measures through.

A system lives in one driver process: its producer side is imported there, its worker side is
`celery -A <app>` started by the driver.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from bench.probe import Listener


class System:
    name = ""
    label = ""
    app_target = ""  # what `celery -A` loads
    settings: str | None = None  # DJANGO_SETTINGS_MODULE of its processes
    env: dict[str, str] = {}  # extra environment of its processes
    app: Any = None

    def setup(self) -> None:
        """Import the producer side (and set Django up when the system uses it)."""

    def reset(self) -> None:
        """Empty the tables the system writes, so that runs do not see each other's rows."""

    def enqueue(self, queue: str) -> None:
        """One no-op job, as a view does: one job, one transaction where the system has one."""
        raise NotImplementedError

    def enqueue_edge(self, queue: str, tag: str) -> None:
        """The first or last job of a drain; `tag` names it where the system needs markers."""
        self.enqueue(queue)

    def enqueue_latency(self, queue: str) -> str:
        """One latency job (its body marks its start); the task id the probe will report."""
        raise NotImplementedError

    def bulk(self) -> Callable[[str, int], None] | None:
        """The system's way of enqueuing many jobs at once, or None when it has none."""
        raise NotImplementedError

    def enqueue_many(self, queue: str, n: int) -> None:
        """n no-op jobs, as fast as the system allows (to load the worker for the RSS measure)."""
        bulk = self.bulk()
        for start in range(0, n, 1000):
            count = min(1000, n - start)
            if bulk is not None:
                bulk(queue, count)
            else:
                for _ in range(count):
                    self.enqueue(queue)

    def watermark(self) -> int:
        """An opaque position in the system's record of finished jobs (see `wait_drained`)."""
        return 0

    def wait_drained(
        self,
        queue: str,
        tag: str,
        expected: int,
        after: int,
        listener: Listener,
        timeout: float,
        guard: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Block until the `expected` jobs enqueued after `watermark()` returned `after` have
        finished; their first and last completion times and how many were seen."""
        raise NotImplementedError

    def forget(self, queue: str) -> None:
        """Drop what the system keeps for jobs of a queue no worker will consume."""

    # --- broker -------------------------------------------------------------------------------
    def queue_depth(self, queue: str) -> int | None:
        """Messages waiting in the queue, as the broker counts them (all priority levels)."""
        with self.app.connection_for_write() as conn:
            channel = conn.channel()
            try:
                return int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:
                # Redis keeps no empty list, so an emptied queue "does not exist": count it
                # as kombu's virtual transports do (summing every priority level).
                size = getattr(channel, "_size", None)
                return int(size(queue)) if size is not None else None
            finally:
                with contextlib.suppress(Exception):
                    channel.close()

    def delete_queue(self, queue: str) -> None:
        """Remove the queue and its messages from the broker."""
        with self.app.connection_for_write() as conn:
            if conn.transport.driver_type == "amqp":  # deleted by name, server-side
                for op in ("queue_delete", "exchange_delete"):
                    channel = conn.channel()
                    try:
                        getattr(channel, op)(queue)
                    except Exception:  # never declared: nothing to delete
                        pass
                    finally:
                        with contextlib.suppress(Exception):
                            channel.close()
                return
            # Virtual transports (Redis, filesystem) delete only bindings the channel declared
            # itself: declare the queue as the app does (every priority level), then delete it.
            channel = conn.channel()
            try:
                bound = self.app.amqp.queues[queue].bind(channel)
                bound.declare()
                bound.delete()
            finally:
                with contextlib.suppress(Exception):
                    channel.close()


def _poll(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    guard: Callable[[], None] | None = None,
    pause: float = 0.5,
) -> Any:
    """Poll slowly: the figures come from timestamps the workers wrote, not from this loop."""
    deadline = time.monotonic() + timeout
    while True:
        if guard is not None:
            guard()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(pause)


class RawCelery(System):
    name = "celery"
    label = "Celery, no result backend"
    app_target = "bench.celery_raw"

    def setup(self) -> None:
        from bench import celery_raw

        self.tasks = celery_raw
        self.app = celery_raw.app

    def enqueue(self, queue: str) -> None:
        self.tasks.noop.apply_async(queue=queue)

    def enqueue_edge(self, queue: str, tag: str) -> None:
        self.tasks.mark.apply_async((tag,), queue=queue)

    def enqueue_latency(self, queue: str) -> str:
        return str(self.tasks.latency.apply_async(queue=queue).id)

    def bulk(self) -> Callable[[str, int], None]:
        def bulk(queue: str, n: int) -> None:
            with self.app.producer_or_acquire() as producer:
                for _ in range(n):
                    self.tasks.noop.apply_async(queue=queue, producer=producer)

        return bulk

    def enqueue_many(self, queue: str, n: int) -> None:
        super().enqueue_many(queue, n - 1)
        self.enqueue_edge(queue, "many-last")

    def wait_drained(
        self,
        queue: str,
        tag: str,
        expected: int,
        after: int,
        listener: Listener,
        timeout: float,
        guard: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        # No result backend: nothing records a no-op's end. The first and last messages of the
        # queue are marks that report when they ran; the queue is then checked to be empty.
        # The last mark can end while the other worker child still runs the one job before
        # it: the error is at most one no-op (about a millisecond).
        first = last = None
        if tag:
            first = float(listener.wait("mark", f"{tag}-first", timeout, guard)[0])
            last = float(listener.wait("mark", f"{tag}-last", timeout, guard)[0])
        else:
            last = float(listener.wait("mark", "many-last", timeout, guard)[0])
        depth = self.queue_depth(queue)
        return {"first": first, "last": last, "count": expected if depth == 0 else None}


class CeleryResults(System):
    """Celery storing every result with django-celery-results (the Django database)."""

    name = "celery-dcr"
    label = "Celery + django-celery-results (as shipped)"
    app_target = "bench.celery_dcr"
    settings = "bench.settings_celery"

    def setup(self) -> None:
        import django

        django.setup()
        from django_celery_results.models import TaskResult

        from bench import celery_dcr

        self.tasks = celery_dcr
        self.app = celery_dcr.app
        self.model = TaskResult

    def reset(self) -> None:
        _truncate([self.model])

    enqueue = RawCelery.enqueue
    enqueue_latency = RawCelery.enqueue_latency
    bulk = RawCelery.bulk

    def watermark(self) -> int:
        return _max_pk(self.model.objects.all())

    def wait_drained(
        self,
        queue: str,
        tag: str,
        expected: int,
        after: int,
        listener: Listener,
        timeout: float,
        guard: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        rows = self.model.objects.filter(pk__gt=after)
        return _wait_rows(rows, "date_done", expected, timeout, guard, ok={"status": "SUCCESS"})


class CeleryResultsReuse(CeleryResults):
    name = "celery-dcr-reuse"
    label = "Celery + django-celery-results, CELERY_DB_REUSE_MAX set"

    def __init__(self, reuse_max: int) -> None:
        self.env = {"BENCH_DB_REUSE_MAX": str(reuse_max)}


class Jobkit(System):
    name = "jobkit"
    label = "django-jobkit"
    app_target = "example_project"
    settings = "bench.settings"

    def setup(self) -> None:
        import django

        django.setup()
        from django.db import transaction

        import django_jobkit
        from bench.jobs import LatencyJob, NoopJob
        from django_jobkit.models import JobProcess, JobRequest, JobResult, JobWorker
        from example_project.celery import app

        self.app = app
        self.jobkit = django_jobkit
        self.transaction = transaction
        self.NoopJob, self.LatencyJob = NoopJob, LatencyJob
        self.JobRequest, self.JobResult = JobRequest, JobResult
        self.models = [JobRequest, JobProcess, JobResult, JobWorker]

    def reset(self) -> None:
        _truncate(self.models)

    def enqueue(self, queue: str) -> None:
        with self.transaction.atomic():
            self.NoopJob().run_in_worker(queue=queue)

    def enqueue_latency(self, queue: str) -> str:
        with self.transaction.atomic():
            request = self.LatencyJob().run_in_worker(queue=queue)
        assert request is not None
        return str(request.job_request_uuid)

    def bulk_api(self) -> Callable[..., Any] | None:
        """jobkit's bulk enqueue, under whichever of the names the issue proposed it has."""
        for owner, name in [
            (self.jobkit.Job, "run_many_in_worker"),
            (self.jobkit, "bulk_run_in_worker"),
        ]:
            api = getattr(owner, name, None)
            if api is not None:
                return api
        return None

    def bulk(self) -> Callable[[str, int], None] | None:
        api = self.bulk_api()
        if api is None:
            return None

        def bulk(queue: str, n: int) -> None:
            api([self.NoopJob() for _ in range(n)], queue=queue)

        return bulk

    def watermark(self) -> int:
        return _max_pk(self.JobResult.objects.all())

    def wait_drained(
        self,
        queue: str,
        tag: str,
        expected: int,
        after: int,
        listener: Listener,
        timeout: float,
        guard: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        rows = self.JobResult.objects.filter(pk__gt=after, queue=queue)
        return _wait_rows(
            rows,
            "ended_at",
            expected,
            timeout,
            guard,
            ok={"status": self.JobResult.Status.SUCCESSFUL},
        )

    def forget(self, queue: str) -> None:
        self.JobRequest.objects.filter(queue=queue).delete()


def _max_pk(queryset: Any) -> int:
    from django.db.models import Max

    return queryset.aggregate(m=Max("pk"))["m"] or 0


def _wait_rows(
    rows: Any,
    time_field: str,
    expected: int,
    timeout: float,
    guard: Callable[[], None] | None,
    ok: dict[str, Any],
) -> dict[str, Any]:
    from django.db.models import Count, Max, Min

    _poll(lambda: rows.count() >= expected, timeout, f"{expected} finished jobs", guard)
    edges = rows.aggregate(first=Min(time_field), last=Max(time_field), count=Count("pk"))
    failed = rows.exclude(**ok).count()
    if failed:
        raise RuntimeError(f"{failed} of {edges['count']} jobs did not succeed")
    return {
        "first": edges["first"].timestamp(),
        "last": edges["last"].timestamp(),
        "count": edges["count"],
    }


def _truncate(models: list[Any]) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        for sql in connection.ops.sql_flush(no_style(), tables, reset_sequences=False):
            cursor.execute(sql)


def make(name: str) -> System:
    from bench.common import DB_REUSE_MAX

    factories: dict[str, Callable[[], System]] = {
        "celery": RawCelery,
        "celery-dcr": CeleryResults,
        "celery-dcr-reuse": lambda: CeleryResultsReuse(DB_REUSE_MAX),
        "jobkit": Jobkit,
    }
    return factories[name]()


NAMES = ["celery", "celery-dcr", "celery-dcr-reuse", "jobkit"]
PEERS = NAMES[:-1]
