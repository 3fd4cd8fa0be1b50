"""The query layer: every query the engine makes is a method here, named for what it means.

Each method reads and writes the database `router.db_for_write` names for its model. A
project with a read-replica router sends `JobRequest.objects.filter(...)` to a replica, which
is right for a page that lists jobs and wrong for an engine step: a dedup check read from a
replica that lags its primary lets a second job in, and a claim must see the row it locks. So
the engine never uses the default routing; users' own queries keep it.

The two moves of a job's life, request → process (claim) and process → result (record), are
described once by `COPIED` below and rendered either by the ORM or, on
PostgreSQL, by one statement each (`db.postgres`), tested against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Substr
from django.utils import timezone

from ..conf import jobkit_settings
from ..db import postgres
from . import locks

if TYPE_CHECKING:
    from .records import JobBatch, JobHold, JobProcess, JobRequest, JobResult, JobWorker

#: What a result takes from its process besides `COPIED` (the process's uuid aside).
ENDED = ["host", "pid", "worker_name", "progress", "progress_message", "device", "output"]

#: Fields copied verbatim from request to process to result: what a job is.
COPIED = [
    "job_class",
    "limits",
    "batch_uuid",
    "parameters",
    "queue",
    "priority",
    "retries",
    "retry_attempt",
    "concurrency_key",
    "timeout",
    "job_request_uuid",
    "root_uuid",
    "created_at",
    "headers",
]

#: Reads of a retry chain before `chain_attempts` takes what it found (see there).
CHAIN_READS = 5


def record_model(name: str) -> Any:
    """Another of jobkit's records, from Django's app registry: the records import this module
    to build their managers, so this one cannot import them back."""
    return apps.get_model("django_jobkit", name)


def primary_alias(model: type[models.Model]) -> str:
    """The database the engine uses for `model`: the one writes go to."""
    return router.db_for_write(model)


class EngineQuerySet(models.QuerySet):  # type: ignore[type-arg]
    def primary(self) -> Any:
        """This queryset on the write database (see the module docstring for why)."""
        return self.using(primary_alias(self.model))

    def primary_alias(self) -> str:
        return primary_alias(self.model)

    def in_pk_batches(self, size: int) -> Iterator[list[Any]]:
        """The rows of this queryset, `size` at a time in primary key order.

        Each batch is one bounded query after the last pk seen, so that acting on every row
        matching an admin filter never loads them all at once, and rows the caller removes
        or adds meanwhile cannot shift a page under it.
        """
        if size < 1:
            raise ValueError(f"size={size!r}: a batch needs at least one row")
        rows = self.order_by("pk")
        last = None
        while True:
            page = rows if last is None else rows.filter(pk__gt=last)
            batch = list(page[:size])
            if not batch:
                return
            yield batch
            if len(batch) < size:
                return  # the last one: no query to find nothing after it
            last = batch[-1].pk

    def newest(self, rows: int) -> Any:
        """This queryset limited to the `rows` rows of the whole table written last (by primary
        key): one index read finds the boundary, so a text search reads `rows` rows at most."""
        edge = (
            self.model._default_manager.using(self.db)
            .order_by("-pk")
            .values_list("pk", flat=True)[rows - 1 : rows]
        )
        cutoff = next(iter(edge), None)
        return self if cutoff is None else self.filter(pk__gte=cutoff)

    def latest_values(self, field: str, rows: int) -> set[str]:
        """The distinct values of `field` among the `rows` rows written last (read on the
        primary key's index, deduplicated here): the admin's filters offer these rather than
        a DISTINCT over the whole table. Default routing: a replica may serve it."""
        if rows < 1:
            raise ValueError(f"rows={rows!r}: a sample needs at least one row")
        values = self.order_by("-pk").values_list(field, flat=True)[:rows]
        return {str(value) for value in values if value not in (None, "")}


class JobRequestQuerySet(EngineQuerySet):
    def pending_or_running(
        self, job_class: str, concurrency_key: str = "", *, key_prefix: str = ""
    ) -> bool:
        """True while a job of this class and key (or key prefix) waits or runs: the dedup
        rule, read on the primary so that a lagging replica cannot let a second job in."""
        JobProcess = record_model("JobProcess")

        filters: dict[str, Any] = {"job_class": job_class}
        if key_prefix:
            filters["concurrency_key__startswith"] = key_prefix
        else:
            filters["concurrency_key"] = concurrency_key
        return (
            self.primary().filter(**filters).exists()
            or JobProcess.objects.primary().filter(**filters).exists()
        )

    def key_holder(self, job_class: str, concurrency_key: str) -> Any:
        """The root uuid of the job of this class and key that waits or runs (the one the
        dedup rule kept out a second of), or None."""
        JobProcess = record_model("JobProcess")

        filters = {"job_class": job_class, "concurrency_key": concurrency_key}
        found = self.primary().filter(**filters).values_list("root_uuid", flat=True).first()
        if found is None:
            found = (
                JobProcess.objects.primary()
                .filter(**filters)
                .values_list("root_uuid", flat=True)
                .first()
            )
        return found

    def chain_attempts(self, root_uuid: Any) -> list[Any]:
        """Every attempt of a retry chain, one row each where it is now (its request, process
        or result), the ended first attempt first.

        A chain is read in three statements (`chain_read`), so a read may be skewed: an
        attempt that moved on between two of them is seen twice (its later row is kept), and
        a retry written meanwhile (with its predecessor's result, in one transaction) may be
        missed. That result names its retry (`retry_job_request_uuid`), so such a read is
        made again, at most `CHAIN_READS` times: rows only move forward, so one more read
        suffices unless the chain moves on again at that very moment."""
        latest: dict[Any, Any] = {}
        for _ in range(CHAIN_READS):
            waiting, running, ended = self.chain_read(root_uuid)
            latest = {}
            for row in (*waiting, *running, *ended):  # a later stage replaces an earlier one
                latest[row.job_request_uuid] = row
            if {row.retry_job_request_uuid for row in ended} - {None} <= latest.keys():
                break
        return list(latest.values())

    def chain_read(self, root_uuid: Any) -> tuple[list[Any], list[Any], list[Any]]:
        """One read of a chain: (waiting, running, ended), in the order an attempt moves
        (requests, then processes, then results), so that one moving on between two
        statements is seen twice, never missed."""
        JobProcess = record_model("JobProcess")
        JobResult = record_model("JobResult")

        waiting = list(self.primary().filter(root_uuid=root_uuid))
        running = list(JobProcess.objects.primary().filter(root_uuid=root_uuid))
        ended = list(JobResult.objects.chain(root_uuid))
        return waiting, running, ended

    def locked(self, request_uuid: Any) -> JobRequest | None:
        """The request, locked until the transaction ends; None if gone or locked by another."""
        return (
            self.primary()
            .select_for_update(skip_locked=True)
            .filter(job_request_uuid=request_uuid)
            .first()
        )

    def claim(
        self, request_uuid: Any, claimed_by: dict[str, Any]
    ) -> tuple[JobProcess | None, JobRequest | None]:
        """Turn the request into a process atomically: exactly one delivery wins.

        Returns (the process, None) for the winner, (None, the request) when it was
        delivered before its start time (to send again), (None, None) when it is gone or
        another delivery holds it.
        """
        JobProcess = record_model("JobProcess")
        JobQueue = record_model("JobQueue")
        JobRateStart = record_model("JobRateStart")
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        if postgres.usable(using):
            process = postgres.claim(
                using, JobRequest, JobProcess, JobQueue, request_uuid, claimed_by
            )
            if process is not None:
                return process, None
            # Gone, early, paused or locked by another delivery: the portable path tells which.
        with transaction.atomic(using=using):
            request = (
                self.primary()
                .select_for_update(skip_locked=True)
                .filter(job_request_uuid=request_uuid)
                .annotate(queue_paused=JobQueue.objects.paused_condition())
                .first()
            )
            if request is None:
                return None, None
            if request.queue_paused:
                # Put back to wait: resuming the queue (or the sweeper after it) sends it again.
                self.primary().filter(pk=request.pk).update(sent_at=None)
                return None, None
            now = timezone.now()
            if request.start_at is not None and request.start_at > now:
                return None, request
            rated = [(lim["key"], *lim["rate"]) for lim in request.limits or () if lim.get("rate")]
            if rated:
                taken, at = JobRateStart.objects.take(rated)
                if taken:
                    now = at
                else:
                    opens = at
                    # Over its rate: it waits for the window, sent again for that moment (by
                    # the caller now, as an ETA; by the sweeper when that is far off).
                    request.start_at = opens
                    far = opens > now + timedelta(seconds=jobkit_settings.DELAY_HORIZON)
                    if far:
                        request.sent_at = None
                    request.save(using=using, update_fields=["start_at", "sent_at"])
                    return None, None if far else request
            process = JobProcess.objects.using(using).create(
                **{name: getattr(request, name) for name in COPIED},
                **claimed_by,
                started_at=now,
            )
            request.delete()
        return process, None

    def end(self, request: JobRequest, status: str, error: str) -> JobResult:
        """Replace a waiting request by a result that did not run (cancelled, unknown class);
        inside the caller's transaction, with the request locked."""
        JobResult = record_model("JobResult")

        JobHold = record_model("JobHold")

        using = request._state.db or self.primary_alias()
        result = JobResult.objects.using(using).create(
            **{name: getattr(request, name) for name in COPIED}, status=status, error=error
        )
        request.delete(using=using)
        if request.limits:
            # Its slots go to the next waiting jobs, which the sweeper then sends (this layer
            # does not publish).
            JobHold.objects.release(request.job_request_uuid, mark_sent=False)
        return result

    def cancel(self, request_uuid: Any) -> JobResult | None:
        """Record a waiting request CANCELLED; None if a worker claimed it first."""
        JobResult = record_model("JobResult")

        with transaction.atomic(using=self.primary_alias()):
            request = self.locked(request_uuid)
            if request is None:
                return None
            return self.end(request, JobResult.Status.CANCELLED, "cancelled before it started")

    def start_now(self, request_uuid: Any) -> JobRequest | None:
        """Clear a delayed request's start time and stamp it sent, inside the caller's
        transaction; the request to send, or None when it is gone, claimed or not delayed."""
        request = self.locked(request_uuid)
        if request is None or request.start_at is None:
            return None
        request.start_at = None
        request.sent_at = timezone.now()
        request.save(using=self.primary_alias(), update_fields=["start_at", "sent_at"])
        return request

    def chain_live(self, root_uuid: Any) -> bool:
        """Whether an attempt of this retry chain waits or runs."""
        JobProcess = record_model("JobProcess")

        return bool(
            self.primary().filter(root_uuid=root_uuid).exists()
            or JobProcess.objects.primary().filter(root_uuid=root_uuid).exists()
        )

    def waiting(self, request_uuid: Any) -> JobRequest | None:
        """The request, if it still waits (not claimed, cancelled or ended)."""
        return self.primary().filter(job_request_uuid=request_uuid).first()

    def waiting_among(self, request_uuids: list[Any]) -> set[Any]:
        """Which of these requests still wait (for the events stream)."""
        rows = self.primary().filter(job_request_uuid__in=request_uuids)
        return set(rows.values_list("job_request_uuid", flat=True))

    def cancel_all(self, request_uuids: list[Any], error: str) -> list[JobResult]:
        """Record every waiting request among these CANCELLED with `error`.

        Unlike `cancel` it waits for a row another transaction holds: a claim in flight then
        commits first and its request is left out (the caller cancels the process instead).
        """
        JobResult = record_model("JobResult")

        with transaction.atomic(using=self.primary_alias()):
            requests = list(
                self.primary()
                .select_for_update()
                .filter(job_request_uuid__in=request_uuids)
                .order_by("pk")
            )
            return [self.end(r, JobResult.Status.CANCELLED, error) for r in requests]

    def to_send(
        self,
        now: datetime,
        horizon: datetime,
        stale: datetime,
        limit: int,
        *,
        lost: MessagesLost | None = None,
        queue: str | None = None,
    ) -> list[Any]:
        """Requests whose message never left, whose delay is almost over, or whose message
        went unclaimed since `stale` (or is known `lost`), in queues not paused (`queue`: that
        one only); locked (inside the caller's transaction)."""
        due = Q(start_at__isnull=True) | Q(start_at__lte=horizon)
        unsent = Q(sent_at__isnull=True) & due
        wanted = unsent | _sent_and_due_before(stale)
        if lost is not None:
            wanted |= lost.condition()
        JobHold = record_model("JobHold")
        JobQueue = record_model("JobQueue")

        rows = self.primary().filter(wanted)
        if queue is not None:
            rows = rows.filter(queue=queue)
        return list(
            rows.annotate(
                queue_paused=JobQueue.objects.paused_condition(),
                slot_waiting=JobHold.objects.waiting_condition(),
            )
            .filter(queue_paused=False, slot_waiting=False)
            .select_for_update(skip_locked=True)
            .order_by("-priority", "created_at")[:limit]
        )

    def mark_sent(self, pks: list[int], when: datetime) -> int:
        return int(self.primary().filter(pk__in=pks).update(sent_at=when))

    def mark_unsent(self, request_uuids: list[Any]) -> int:
        """Leave requests to the sweeper: their message may not have reached the broker."""
        return int(self.primary().filter(job_request_uuid__in=request_uuids).update(sent_at=None))

    def insert(self, request: JobRequest) -> None:
        """INSERT one request; on PostgreSQL with a statement compiled once, not per call."""
        using = self.primary_alias()
        if connections[using].vendor == "postgresql":
            postgres.insert_one(using, request)
        else:
            request.save(using=using, force_insert=True)

    def insert_many(self, requests: list[JobRequest]) -> None:
        """INSERT many requests, setting their pks; on PostgreSQL one statement over arrays."""
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        if not requests:
            return
        if connections[using].vendor == "postgresql":
            postgres.insert_many(using, JobRequest, requests)
        else:
            JobRequest.objects.using(using).bulk_create(requests, batch_size=1000)

    # The admin's lists read with the default routing (a replica may serve them), unlike the
    # engine's queries above.

    def with_key_running(self) -> Any:
        """Each request annotated `key_running`: a job of its class and non-empty concurrency
        key is running now (one subquery on the processes' key index, not one per row)."""
        JobProcess = record_model("JobProcess")

        running = JobProcess.objects.filter(
            job_class=OuterRef("job_class"), concurrency_key=OuterRef("concurrency_key")
        ).exclude(concurrency_key="")
        return self.annotate(key_running=Exists(running))

    def with_slot_waiting(self) -> Any:
        """Each request annotated `slot_waiting_key` and `slot_waiting_running`: a running
        limit it waits for a slot of (the first by key), or None."""
        JobHold = record_model("JobHold")

        waiting = JobHold.objects.filter(
            job_request_uuid=OuterRef("job_request_uuid"), held=False
        ).order_by("key")
        return self.annotate(
            slot_waiting_key=Subquery(waiting.values("key")[:1]),
            slot_waiting_running=Subquery(waiting.values("running")[:1]),
        )

    def with_queue_paused_at(self) -> Any:
        """Each request annotated `queue_paused_at`: when its queue was paused, or None."""
        JobQueue = record_model("JobQueue")

        paused = JobQueue.objects.filter(name=OuterRef("queue"), paused_at__isnull=False)
        return self.annotate(queue_paused_at=Subquery(paused.values("paused_at")[:1]))


class JobProcessQuerySet(EngineQuerySet):
    def of_worker(self, host: str, worker_pid: int) -> Any:
        """The jobs a worker's children run (its main process's own excluded by the caller)."""
        return self.primary().filter(host=host, worker_pid=worker_pid)

    def silent_since(self, cutoff: datetime, limit: int) -> list[JobProcess]:
        """Jobs no heartbeat vouched for since `cutoff` (none yet: claimed before it)."""
        silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
        return list(self.primary().filter(silent).order_by("started_at")[:limit])

    def heard_from(self, pks: list[int], when: datetime) -> int:
        """Stamp the heartbeat of jobs whose process was just seen alive."""
        return int(self.primary().filter(pk__in=pks).update(heartbeat_at=when)) if pks else 0

    def request_cancel(self, pk: int) -> str | None:
        """Mark a running job to be cancelled; its Celery task id, or None if it ended."""
        self.primary().filter(pk=pk, cancel_requested_at__isnull=True).update(
            cancel_requested_at=timezone.now()
        )
        process = self.primary().filter(pk=pk).only("celery_task_id").first()
        return None if process is None else process.celery_task_id

    def of_request(self, request_uuid: Any) -> JobProcess | None:
        """The running attempt of a request (claimed from it), if any."""
        return self.primary().filter(job_request_uuid=request_uuid).first()

    def progress_of(
        self, request_uuids: list[Any]
    ) -> dict[Any, tuple[float | None, str, list[Any] | None]]:
        """(progress, message, output) of the running attempts of these requests, by request
        uuid."""
        rows = self.primary().filter(job_request_uuid__in=request_uuids)
        return {
            uuid: (fraction, message, output)
            for uuid, fraction, message, output in rows.values_list(
                "job_request_uuid", "progress", "progress_message", "output"
            )
        }

    def request_cancel_of(self, request_uuids: list[Any]) -> int:
        """Mark the running attempts of these requests to be cancelled; how many were marked."""
        return int(
            self.primary()
            .filter(job_request_uuid__in=request_uuids, cancel_requested_at__isnull=True)
            .update(cancel_requested_at=timezone.now())
        )

    def set_progress(
        self, pk: int, fraction: float | None, message: str, output: tuple[Any, ...] = ()
    ) -> int:
        """Store a running job's progress and what it emitted; 0 when its attempt already
        ended."""
        return int(
            self.primary()
            .filter(pk=pk)
            .update(progress=fraction, progress_message=message, output=list(output) or None)
        )

    def cancel_requested(self, pk: int) -> bool:
        return bool(self.primary().filter(pk=pk, cancel_requested_at__isnull=False).exists())

    def finish(
        self,
        process: JobProcess,
        values: dict[str, Any],
        next_attempt: Callable[[], JobRequest | None] | None = None,
        admitted: list[JobRequest] | None = None,
        batch_done: Callable[[JobBatch], None] | None = None,
    ) -> JobResult | None:
        """Replace the process with its result holding `values`; None if it already ended.

        `next_attempt` runs inside the same transaction, after the process row is gone (so
        the dedup rule no longer sees it), and returns the retry's request or None. A process
        with running limits frees its slots there too, before its retry asks for them; the
        requests given the slots are appended to `admitted`, stamped sent, for the caller to
        send after commit. A child of a batch that ends it calls `batch_done(batch)` there
        too, once (see `JobBatchQuerySet.complete_if_done`).
        """
        JobBatch = record_model("JobBatch")
        JobHold = record_model("JobHold")
        JobProcess = record_model("JobProcess")
        JobResult = record_model("JobResult")

        using = self.primary_alias()
        plain = next_attempt is None and not process.limits and process.batch_uuid is None
        if plain and postgres.usable(using):
            return postgres.record(using, JobProcess, JobResult, process, values)
        with transaction.atomic(using=using):
            if not JobProcess.objects.using(using).filter(pk=process.pk).delete()[0]:
                return None  # someone else already ended this attempt: one result only
            if process.limits:
                freed = JobHold.objects.release(process.job_request_uuid)
                if admitted is not None:
                    admitted.extend(freed)
            retry = next_attempt() if next_attempt is not None else None
            result = JobResult.objects.using(using).create(
                **{name: getattr(process, name) for name in COPIED},
                **{name: getattr(process, name) for name in ENDED},
                celery_task_id=process.celery_task_id,
                job_process_uuid=process.uuid,
                retry_job_request_uuid=retry.job_request_uuid if retry else None,
                **values,
            )
            if process.batch_uuid is not None and retry is None:
                batch = JobBatch.objects.complete_if_done(process.batch_uuid)
                if batch is not None and batch_done is not None:
                    batch_done(batch)
            return result


class JobResultQuerySet(EngineQuerySet):
    def of_request(self, request_uuid: Any) -> JobResult | None:
        return self.primary().filter(job_request_uuid=request_uuid).first()

    def ends_of(
        self, request_uuids: list[Any]
    ) -> dict[Any, tuple[str, float | None, str, list[Any] | None, Any]]:
        """(status, progress, message, output, the retry's request uuid or None) of the
        results of these requests, by request uuid."""
        rows = self.primary().filter(job_request_uuid__in=request_uuids)
        fields = ("job_request_uuid", "status", "progress", "progress_message", "output")
        return {
            row[0]: (row[1], row[2], row[3], row[4], row[5])
            for row in rows.values_list(*fields, "retry_job_request_uuid")
        }

    def chain(self, root_uuid: Any) -> Any:
        """Every result of a retry chain, first attempt first."""
        return self.primary().filter(root_uuid=root_uuid).order_by("retry_attempt", "ended_at")

    def latest_of_chain(self, root_uuid: Any) -> JobResult | None:
        """The chain's last recorded attempt, locked until the transaction ends: two retries
        of one chain asked for at once queue here, and the second sees the first's attempt."""
        return (
            self.primary()
            .select_for_update()
            .filter(root_uuid=root_uuid)
            .order_by("-retry_attempt", "-ended_at", "-pk")
            .first()
        )

    def succeeded_in_chain(self, root_uuid: Any) -> bool:
        JobResult = record_model("JobResult")

        return bool(
            self.primary().filter(root_uuid=root_uuid, status=JobResult.Status.SUCCESSFUL).exists()
        )

    def link_retry(self, pk: int, request_uuid: Any) -> int:
        """Point a result at the request that retries it."""
        return int(self.primary().filter(pk=pk).update(retry_job_request_uuid=request_uuid))

    def prune(self, cutoff: datetime, batch: int) -> int:
        """Delete at most `batch` results that ended before `cutoff`; how many."""
        pks = list(self.primary().filter(ended_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        return int(self.primary().filter(pk__in=pks).delete()[0]) if pks else 0

    def exists_for_key(self, job_class: str, concurrency_key: str) -> bool:
        return bool(
            self.primary().filter(job_class=job_class, concurrency_key=concurrency_key).exists()
        )

    # The admin's lists read with the default routing (a replica may serve them).

    def latest_error_heads(self, rows: int, length: int = 120) -> list[str]:
        """The first `length` characters of the errors among the `rows` latest results: a
        sample read on the end-time index, never a DISTINCT over the whole table. The slice is
        the outer query's own LIMIT, not an `IN (... LIMIT)` subquery, which MariaDB refuses."""
        heads = (
            self.order_by("-ended_at")
            .annotate(head=Substr("error", 1, length))
            .values_list("head", flat=True)[:rows]
        )
        return [head for head in heads if head]

    def with_error_class(self, name: str) -> Any:
        """The results whose error starts with `name:`: among the attempts that did not
        succeed (a successful one has no error), read on the (status, end time) index rather
        than by a LIKE over every row."""
        JobResult = record_model("JobResult")
        failed = [s for s in JobResult.Status.values if s != JobResult.Status.SUCCESSFUL]
        return self.filter(status__in=failed, error__startswith=f"{name}:")

    def most_recent(self, rows: int) -> Any:
        """This queryset limited to the `rows` most recent results of the whole table (by
        end time): one index read finds the boundary, so a text search scans `rows` rows at
        most."""
        edge = (
            self.model._default_manager.using(self.db)
            .order_by("-ended_at")
            .values_list("ended_at", flat=True)[rows - 1 : rows]
        )
        cutoff = next(iter(edge), None)
        return self if cutoff is None else self.filter(ended_at__gte=cutoff)


class JobWorkerQuerySet(EngineQuerySet):
    def beat(self, host: str, pid: int, name: str, queues: list[str]) -> JobWorker:
        """Write a worker's heartbeat row."""
        worker, _ = self.primary().update_or_create(
            host=host,
            pid=pid,
            defaults={"name": name, "queues": queues, "last_seen": timezone.now()},
        )
        return worker

    def live(self, now: datetime | None = None) -> Any:
        """Workers heard from within JOBKIT_HEARTBEAT_TIMEOUT: their rows must stay."""
        cutoff = (now or timezone.now()) - timedelta(seconds=jobkit_settings.HEARTBEAT_TIMEOUT)
        return self.primary().filter(last_seen__gte=cutoff)

    def queues_consumed_since(self, cutoff: datetime) -> set[str]:
        """The queues of every worker heard from since `cutoff`."""
        rows = self.primary().filter(last_seen__gte=cutoff).values_list("queues", flat=True)
        return {str(queue) for queues in rows for queue in queues or ()}

    def alive_since(self, cutoff: datetime) -> set[tuple[str, int]]:
        """(host, pid) of every worker heard from since `cutoff`."""
        return set(self.primary().filter(last_seen__gte=cutoff).values_list("host", "pid"))

    def with_running_jobs(self) -> Any:
        """Each worker annotated `running_jobs`: how many processes its children run now (one
        subquery on the processes' worker index, not one query per row)."""
        JobProcess = record_model("JobProcess")

        counts = (
            JobProcess.objects.filter(host=OuterRef("host"), worker_pid=OuterRef("pid"))
            .order_by()
            .values("host")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return self.annotate(
            running_jobs=Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))
        )

    def report_child(self, host: str, pid: int, index: int, entry: dict[str, Any]) -> bool:
        """Store what child `index` of worker (host, pid) holds beside its siblings' entries;
        whether the worker's row exists. The row stays locked from read to write, so two
        children reporting at once both land."""
        with transaction.atomic(using=self.primary_alias()):
            children = (
                self.primary()
                .select_for_update()
                .filter(host=host, pid=pid)
                .values_list("children", flat=True)
                .first()
            )
            if children is None:
                return False
            merged = dict(children) if isinstance(children, dict) else {}
            merged[str(index)] = entry
            self.primary().filter(host=host, pid=pid).update(children=merged)
        return True

    def forget(self, host: str, pid: int) -> int:
        return int(self.primary().filter(host=host, pid=pid).delete()[0])

    def prune(self, cutoff: datetime) -> int:
        return int(self.primary().filter(last_seen__lt=cutoff).delete()[0])


class JobBatchQuerySet(EngineQuerySet):
    def counts_of(self, batch_uuid: Any) -> dict[str, int]:
        """Its children by state: three grouped counts on the batch index."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")
        JobResult = record_model("JobResult")

        final = (
            JobResult.objects.primary()
            .filter(batch_uuid=batch_uuid, retry_job_request_uuid__isnull=True)
            .exclude(status=JobResult.Status.DEFERRED)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
        )
        by_status = {row["status"]: row["n"] for row in final}
        S = JobResult.Status
        return {
            "waiting": JobRequest.objects.primary().filter(batch_uuid=batch_uuid).count(),
            "running": JobProcess.objects.primary().filter(batch_uuid=batch_uuid).count(),
            "succeeded": by_status.get(S.SUCCESSFUL, 0),
            "failed": by_status.get(S.ERRORED, 0) + by_status.get(S.LOST, 0),
            "cancelled": by_status.get(S.CANCELLED, 0),
        }

    def with_counts(self) -> Any:
        """Each batch annotated with its children's counts (`n_waiting`, `n_running`,
        `n_succeeded`, `n_failed`, `n_cancelled`): subqueries on the batch index in the list's
        own statement, not queries per row. Default routing (the admin's list)."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")
        JobResult = record_model("JobResult")
        S = JobResult.Status

        def count(model: Any, **filters: Any) -> Any:
            rows = (
                model.objects.filter(batch_uuid=OuterRef("uuid"), **filters)
                .order_by()
                .values("batch_uuid")
                .annotate(n=Count("pk"))
                .values("n")
            )
            return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))

        final = {"retry_job_request_uuid__isnull": True}
        return self.annotate(
            n_waiting=count(JobRequest),
            n_running=count(JobProcess),
            n_succeeded=count(JobResult, status=S.SUCCESSFUL, **final),
            n_failed=count(JobResult, status__in=[S.ERRORED, S.LOST], **final),
            n_cancelled=count(JobResult, status=S.CANCELLED, **final),
        )

    def complete_if_done(self, batch_uuid: Any) -> JobBatch | None:
        """Inside the caller's transaction: stamp the batch completed if no child waits or
        runs and every batch nested in it has completed; the batch when this call did it
        (its `then` is the caller's to enqueue, in this transaction), None otherwise. The
        batch row stays locked until the transaction ends, so children ending at once decide
        one after the other, and the conditional UPDATE lets one caller win."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        batch = self.primary().select_for_update().filter(uuid=batch_uuid).first()
        if batch is None or batch.completed_at is not None:
            return None
        live = (
            JobRequest.objects.using(using).filter(batch_uuid=batch_uuid).exists()
            or JobProcess.objects.using(using).filter(batch_uuid=batch_uuid).exists()
            or self.primary().filter(parent_uuid=batch_uuid, completed_at__isnull=True).exists()
        )
        if live:
            return None
        now = timezone.now()
        if (
            not self.primary()
            .filter(pk=batch.pk, completed_at__isnull=True)
            .update(completed_at=now)
        ):
            return None
        batch.completed_at = now
        return batch

    def unfinished_without_children(self, limit: int) -> list[Any]:
        """Batches not completed whose children are all gone from the live tables: what the
        sweeper completes (a worker killed between recording a child and deciding)."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        waiting = JobRequest.objects.using(using).filter(batch_uuid=OuterRef("uuid"))
        running = JobProcess.objects.using(using).filter(batch_uuid=OuterRef("uuid"))
        nested = self.primary().filter(parent_uuid=OuterRef("uuid"), completed_at__isnull=True)
        rows = (
            self.primary()
            .filter(completed_at__isnull=True)
            .exclude(Exists(waiting))
            .exclude(Exists(running))
            .exclude(Exists(nested))
        )
        return list(rows.values_list("uuid", flat=True)[:limit])

    def lock_open(self, batch_uuid: Any) -> JobBatch | None:
        """Inside the caller's transaction: the batch, locked, if it has not completed. A
        nested batch completing locks its parent first, so that the parent's own decision
        (which locks it too) sees the nested one's `then` and completion together."""
        return (
            self.primary()
            .select_for_update()
            .filter(uuid=batch_uuid, completed_at__isnull=True)
            .first()
        )

    def add_child(self, pk: int) -> int:
        """Count one more child (a nested batch's `then`) in the batch's total."""
        return int(self.primary().filter(pk=pk).update(total=F("total") + 1))

    def open_children(self, batch_uuid: Any) -> list[JobBatch]:
        """The batches nested in this one that have not completed."""
        return list(self.primary().filter(parent_uuid=batch_uuid, completed_at__isnull=True))

    def set_then(self, pk: int, root_uuid: Any) -> int:
        return int(self.primary().filter(pk=pk).update(then_root_uuid=root_uuid))

    def of_then(self, root_uuid: Any) -> JobBatch | None:
        """The batch whose `then` job this chain is."""
        return self.primary().filter(then_root_uuid=root_uuid).first()

    def of_uuid(self, batch_uuid: Any) -> JobBatch | None:
        return self.primary().filter(uuid=batch_uuid).first()


class JobHoldQuerySet(EngineQuerySet):
    """The running limits' slots (see `enqueue.limits`). Every method runs inside the caller's
    transaction and takes the key's lock before it counts or gives out a slot."""

    def hold(self, requests: list[JobRequest]) -> None:
        """Write a waiting hold for each limit of each request, in one INSERT per 1,000."""
        JobHold = record_model("JobHold")

        self.primary().bulk_create(
            [
                JobHold(
                    key=limit["key"],
                    running=limit["running"],
                    job_request_uuid=request.job_request_uuid,
                    priority=request.priority,
                    created_at=request.created_at,
                )
                for request in requests
                for limit in request.limits or ()
                if limit.get("running")  # a rate limit alone is checked at the claim
            ],
            batch_size=1000,
        )

    def admit(self, keys: list[str], *, mark_sent: bool = True) -> list[JobRequest]:
        """Give each key's free slots to its next waiting holds whose request is due and whose
        queue is running (priority, then age); the requests that now hold all their slots.

        `mark_sent`: they are stamped sent, for the caller to send after commit; else left
        unsent, for the sweeper to send (a caller that cannot publish).
        """
        JobQueue = record_model("JobQueue")
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        now = timezone.now()
        admitted: list[Any] = []
        with transaction.atomic(using=using, savepoint=False):
            # One key at a time, in a fixed order: two admitters of the same keys queue up
            # rather than deadlock.
            for key in sorted(set(keys)):
                locks.acquire(using, locks.LIMIT, key)
                ready = (
                    JobRequest.objects.using(using)
                    .filter(job_request_uuid=OuterRef("job_request_uuid"))
                    .filter(Q(start_at__isnull=True) | Q(start_at__lte=now))
                    .annotate(queue_paused=JobQueue.objects.paused_condition())
                    .filter(queue_paused=False)
                )
                waiting = (
                    self.primary()
                    .filter(key=key, held=False)
                    .filter(Exists(ready))
                    .order_by("-priority", "created_at", "pk")
                )
                first = waiting.first()
                if first is None:
                    continue
                free = first.running - self.primary().filter(key=key, held=True).count()
                if free <= 0:
                    continue
                chosen = list(waiting.values_list("pk", "job_request_uuid")[:free])
                self.primary().filter(pk__in=[pk for pk, _ in chosen]).update(held=True)
                admitted.extend(uuid for _, uuid in chosen)
            if not admitted:
                return []
            still_waiting = self.primary().filter(
                job_request_uuid=OuterRef("job_request_uuid"), held=False
            )
            rows = (
                JobRequest.objects.using(using)
                .filter(job_request_uuid__in=admitted, sent_at__isnull=True)
                .exclude(Exists(still_waiting))
            )
            requests = list(rows.order_by("-priority", "created_at"))
            if mark_sent and requests:
                JobRequest.objects.mark_sent([r.pk for r in requests], now)
                for request in requests:
                    request.sent_at = now
        return requests

    def release(self, request_uuid: Any, *, mark_sent: bool = True) -> list[JobRequest]:
        """Free the request's slots (its attempt ended, or it was cancelled) and give them to
        the next waiting holds: the requests that can be sent now (see `admit`)."""
        using = self.primary_alias()
        with transaction.atomic(using=using, savepoint=False):
            rows = self.primary().filter(job_request_uuid=request_uuid)
            keys = list(rows.values_list("key", flat=True))
            if not keys:
                return []
            rows.delete()
            return self.admit(keys, mark_sent=mark_sent)

    def repair(self, limit: int) -> list[JobRequest]:
        """The sweeper's step: drop holds whose request and attempt are both gone (a release
        missed), then admit every key with waiting holds; the requests to send."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")

        using = self.primary_alias()
        with transaction.atomic(using=using, savepoint=False):
            orphans = (
                self.primary()
                .exclude(
                    Exists(
                        JobRequest.objects.using(using).filter(
                            job_request_uuid=OuterRef("job_request_uuid")
                        )
                    )
                )
                .exclude(
                    Exists(
                        JobProcess.objects.using(using).filter(
                            job_request_uuid=OuterRef("job_request_uuid")
                        )
                    )
                )
            )
            orphan_keys = set(orphans.values_list("key", flat=True)[:limit])
            if orphan_keys:
                self.primary().filter(
                    pk__in=list(orphans.values_list("pk", flat=True)[:limit])
                ).delete()
            waiting_keys = set(
                self.primary().filter(held=False).values_list("key", flat=True)[:limit]
            )
            keys = orphan_keys | waiting_keys
            return self.admit(sorted(keys)) if keys else []

    def waiting_of(self, request_uuid: Any) -> JobHold | None:
        """A hold of this request still waiting for its slot (the first by key), if any."""
        waiting = self.primary().filter(job_request_uuid=request_uuid, held=False)
        return waiting.order_by("key").first()

    def holders(self, key: str, limit: int = 10) -> list[Any]:
        """The attempts holding a slot of `key` now: running processes, and requests sent
        but not yet claimed."""
        JobProcess = record_model("JobProcess")
        JobRequest = record_model("JobRequest")

        held = self.primary().filter(key=key, held=True).values("job_request_uuid")
        running = list(JobProcess.objects.primary().filter(job_request_uuid__in=held)[:limit])
        sent = list(JobRequest.objects.primary().filter(job_request_uuid__in=held)[:limit])
        return (running + sent)[:limit]

    def waiting_condition(self) -> Exists:
        """For an annotation of requests: one of their holds still waits for a slot."""
        return Exists(
            self.model.objects.using(self.primary_alias()).filter(
                job_request_uuid=OuterRef("job_request_uuid"), held=False
            )
        )


class JobRateStartQuerySet(EngineQuerySet):
    def take(self, rates: list[tuple[str, int, int]]) -> tuple[bool, datetime]:
        """Inside the caller's transaction: record a start under each (key, starts, per
        seconds) if every window has room, and return (True, the start's time); else record
        nothing and return (False, when they all will: the latest of the full windows' next
        free moments). The start's time is read once every key's lock is held, so that
        waiting for a lock cannot date a start before the one it waited for; the caller
        stamps its process with that same time, so that the windows and the records agree."""
        JobRateStart = record_model("JobRateStart")

        using = self.primary_alias()
        for key, _, _ in sorted(rates):
            locks.acquire(using, locks.LIMIT, f"rate:{key}")
        now = timezone.now()
        free_at: datetime | None = None
        for key, starts, per in sorted(rates):
            since = now - timedelta(seconds=per)
            self.primary().filter(key=key, started_at__lte=since).delete()
            recent = list(
                self.primary()
                .filter(key=key, started_at__gt=since)
                .order_by("-started_at")
                .values_list("started_at", flat=True)[:starts]
            )
            if len(recent) >= starts:
                # The window has room when the oldest of the last `starts` starts leaves it.
                opens = recent[-1] + timedelta(seconds=per)
                free_at = opens if free_at is None else max(free_at, opens)
        if free_at is not None:
            return False, free_at
        self.primary().bulk_create(
            [JobRateStart(key=key, started_at=now) for key, _, _ in sorted(rates)]
        )
        return True, now


class JobQueueQuerySet(EngineQuerySet):
    def paused_condition(self) -> Exists:
        """For an annotation of requests: their queue is paused now (one subquery on the
        queues' unique name, evaluated in the same statement as the rest)."""
        return Exists(
            self.model.objects.using(self.primary_alias()).filter(
                name=OuterRef("queue"), paused_at__isnull=False
            )
        )

    def pause(self, name: str, by: str = "") -> bool:
        """Pause queue `name`; whether it was running (False: already paused)."""
        now = timezone.now()
        using = self.primary_alias()
        with transaction.atomic(using=using):
            queue, created = (
                self.primary()
                .select_for_update()
                .get_or_create(name=name, defaults={"paused_at": now, "paused_by": by})
            )
            if created:
                return True
            if queue.paused_at is not None:
                return False
            queue.paused_at, queue.paused_by = now, by
            queue.save(using=using, update_fields=["paused_at", "paused_by"])
        return True

    def resume(self, name: str) -> bool:
        """Resume queue `name`; whether it was paused."""
        updated = (
            self.primary()
            .filter(name=name, paused_at__isnull=False)
            .update(paused_at=None, paused_by="")
        )
        return bool(updated)

    def paused_names(self) -> set[str]:
        return set(self.primary().filter(paused_at__isnull=False).values_list("name", flat=True))

    def paused_since(self, names: list[str]) -> dict[str, datetime]:
        """When each of these queues was paused, for those paused now (default routing: the
        admin's lists)."""
        rows = self.filter(name__in=names, paused_at__isnull=False)
        return dict(rows.values_list("name", "paused_at"))


class JobLockQuerySet(EngineQuerySet):
    def prune(self, cutoff: datetime, batch: int) -> int:
        """Delete at most `batch` lock rows not taken since `cutoff` (a row taken meanwhile
        stays); how many."""
        pks = list(self.primary().filter(locked_at__lt=cutoff).values_list("pk", flat=True)[:batch])
        if not pks:
            return 0
        return int(self.primary().filter(pk__in=pks, locked_at__lt=cutoff).delete()[0])

    def take_turn(self, name: str, every: float) -> bool:
        """Whether the caller takes turn `name`, which one caller at most takes per `every`
        seconds among all processes sharing the database.

        The turn is the lock row `name`, stamped by whoever takes it with one conditional
        UPDATE: concurrent takers queue on its row lock (SQLite's write lock) and the later
        ones find it stamped. Nothing stays locked while the turn is used.
        """
        now = timezone.now()
        rows = self.primary()
        if rows.filter(key=name, locked_at__lte=now - timedelta(seconds=every)).update(
            locked_at=now
        ):
            return True
        using = self.primary_alias()
        try:
            with transaction.atomic(using=using):
                self.model.objects.using(using).create(key=name, locked_at=now)
        except IntegrityError:
            return False  # taken recently, or created by another taker just now
        return True


def _sent_and_due_before(cutoff: datetime) -> Q:
    """Requests sent before `cutoff` whose start time (if any) also passed before it."""
    return Q(sent_at__lt=cutoff) & (Q(start_at__isnull=True) | Q(start_at__lt=cutoff))


@dataclass(frozen=True)
class MessagesLost:
    """What the broker says it lost: every message sent before `broker_started` (its running
    instance started later), and the messages sent before `cutoff` to `empty_queues`."""

    broker_started: datetime | None = None
    empty_queues: tuple[str, ...] = ()
    cutoff: datetime | None = None

    def condition(self) -> Q:
        condition = Q(pk__in=[])
        if self.broker_started is not None:
            condition |= Q(sent_at__lt=self.broker_started)
        if self.empty_queues and self.cutoff is not None:
            condition |= Q(queue__in=self.empty_queues) & _sent_and_due_before(self.cutoff)
        return condition
