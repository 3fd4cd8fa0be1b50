"""Pausing a queue: its requests wait in the database and nothing is sent to it.

Three places hold the line, each for what the others cannot see. Enqueue writes a job of a
paused queue unsent (from a per-process view of the paused queues at most `CACHE_SECONDS`
old, so that enqueueing does not pay a query per job); the sweeper sends nothing of a paused
queue; and a worker that takes a message of a paused queue (sent before the pause, or by an
enqueuer whose view was a moment old) puts its request back to wait instead of running it —
that check is in the claim's own statement, so it is never stale. Resuming sends what waits.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..conf import jobkit_settings
from . import publish, routing

#: Requests sent per transaction when a queue is resumed.
BATCH = 1000
#: How old enqueue's view of the paused queues may be (the claim's check is always current).
CACHE_SECONDS = 1.0

_lock = threading.Lock()
_cache: tuple[float, frozenset[str]] | None = None


def paused_queues() -> frozenset[str]:
    """The queues paused now, as this process last read them (at most `CACHE_SECONDS` ago)."""
    global _cache
    cached = _cache
    now = time.monotonic()
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    from ..models import JobQueue

    names = frozenset(JobQueue.objects.paused_names())
    with _lock:
        _cache = (now, names)
    return names


def forget() -> None:
    """Drop this process's view: the next enqueue reads the paused queues again."""
    global _cache
    with _lock:
        _cache = None


def pause(queue: str, by: str = "") -> bool:
    """Pause `queue`; whether it was running. Its waiting requests stay; none is sent until it
    is resumed, and a worker that takes one of its messages puts the request back to wait."""
    from ..models import JobQueue

    changed = JobQueue.objects.pause(routing.check_queue(queue), by=by)
    forget()
    return changed


def resume(queue: str) -> tuple[bool, int]:
    """Resume `queue` and send its requests that are due; (whether it was paused, how many
    were sent). Delayed ones are sent when due, as ever."""
    from ..models import JobQueue, JobRequest

    name = routing.check_queue(queue)
    with transaction.atomic(using=JobRequest.objects.primary_alias()):
        # Resumed and the first batch taken in one transaction: a sweep meanwhile still sees
        # the queue paused (or these rows locked, or sent), so what waited is sent once, here,
        # and counted in what this returns.
        changed = JobQueue.objects.resume(name)
        batch = _take_due(name)
    forget()
    sent = publish.send_many(batch) if batch else 0
    while len(batch) == BATCH:
        with transaction.atomic(using=JobRequest.objects.primary_alias()):
            batch = _take_due(name)
        if batch:
            sent += publish.send_many(batch)
    return changed, sent


def _take_due(queue: str) -> list[Any]:
    """Up to `BATCH` of the queue's requests due to be sent, marked sent (in the caller's
    transaction, which holds their locks until it commits)."""
    from ..models import JobRequest

    now = timezone.now()
    horizon = now + timedelta(seconds=jobkit_settings.SWEEP_INTERVAL)
    stale = now - timedelta(seconds=jobkit_settings.RESEND_AFTER)
    batch = JobRequest.objects.to_send(now, horizon, stale, BATCH, queue=queue)
    JobRequest.objects.mark_sent([r.pk for r in batch], now)
    return batch
