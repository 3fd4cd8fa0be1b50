"""Worker heartbeats, and each worker watching over its own children.

A worker's main process writes a heartbeat row every `JOBKIT_HEARTBEAT_INTERVAL` seconds from
Celery's own timer (no extra thread, so forking pool children stays safe). The same tick
looks at the jobs its children are running: a child that died (SIGKILL, out of memory, a hard
time limit, a cancel) leaves a process row whose process is gone, which the parent's
heartbeat alone would never reveal; a child is known by its pid *and* start time
(`identity`), so a pid the kernel gave to another process does not pass for it. The jobs of
children that are alive get their heartbeat stamped on their own rows: that stamp, not the
worker row (which an admin may delete), is what the sweeper reads to find jobs whose whole
worker went silent. The same timer gives the worker its turns at the sweep (`sweep_turns`).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import TimeLimitExceeded
from celery.signals import task_failure, task_revoked, worker_ready, worker_shutdown
from django.db import close_old_connections
from django.utils import timezone

from ..conf import jobkit_settings
from ..models import JobProcess, JobWorker
from . import identity, sweep_turns, timelimits
from .connections import closing_off_loop
from .outcomes import end_process

logger = logging.getLogger("django_jobkit.heartbeat")


@dataclass
class WorkerIdentity:
    name: str
    queues: list[str]
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


_me: WorkerIdentity | None = None
#: The worker's Celery timer, where the main process does its looking after (heartbeats too).
_timer: Any = None
#: Seconds after Celery reports a hard time limit that the main process looks at the child:
#: billiard sends it SIGKILL 0.1 s after its SIGTERM.
HARD_LIMIT_LOOK_AFTER = 0.5


def beat(me: WorkerIdentity) -> None:
    """Write this worker's heartbeat, end the jobs of children that died and vouch for the
    others."""
    try:
        closing_off_loop(lambda: _beat(me))
    except Exception:
        logger.exception("heartbeat of %s failed", me.name)


def _beat(me: WorkerIdentity) -> None:
    close_old_connections()
    JobWorker.objects.beat(me.host, me.pid, me.name, me.queues)
    check_children(me)


def check_children(me: WorkerIdentity, task_id: str | None = None) -> int:
    """End the running jobs of this worker whose process is gone, and stamp the heartbeat of
    the others; how many ended."""
    processes = JobProcess.objects.of_worker(me.host, me.pid)
    if task_id is not None:
        processes = processes.filter(celery_task_id=task_id)
    now = timezone.now()
    ended, alive = 0, []
    for process in processes:
        # The main process's own jobs (solo and threads pools) pass too, unless they were a
        # former worker's that had this host and pid (a restarted container): its start time.
        if identity.is_running(process.pid, process.pid_start_time):
            alive.append(process.pk)
        else:
            ended += end_process(process, f"its worker child (pid {process.pid}) died") is not None
    JobProcess.objects.heard_from(alive, now)
    return ended


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _me, _timer
    consumer = sender
    queues = [q.name for q in consumer.task_consumer.queues] if consumer.task_consumer else []
    _me = WorkerIdentity(name=consumer.hostname, queues=queues)
    _timer = consumer.timer
    beat(_me)
    consumer.timer.call_repeatedly(jobkit_settings.HEARTBEAT_INTERVAL, beat, (_me,))
    sweep_turns.start(consumer.timer, queues)


@task_revoked.connect
def _on_task_revoked(request: Any = None, terminated: bool = False, **kwargs: Any) -> None:
    # The child was killed on purpose (a cancel): record it now rather than at the next tick.
    if terminated and _me is not None and request is not None:
        end_gone_child(_me, request.id)


@task_failure.connect
def _on_task_failure(task_id: str | None = None, exception: Any = None, **kwargs: Any) -> None:
    # The pool's hard time limit, reported in the main process just before billiard kills the
    # child, which records nothing then (`timelimits.killed_at_hard_limit`). Looked at from
    # Celery's timer once the kill is done, not here: here the child is still alive, and a
    # record could wait for a lock it holds (SQLite's one writer) while the kill waits for
    # this. A Celery that does not send this signal for a hard limit leaves it to the tick.
    if not isinstance(exception, TimeLimitExceeded) or task_id is None:
        return
    if _me is None or _timer is None or timelimits.enforced_here():
        return
    _timer.call_after(HARD_LIMIT_LOOK_AFTER, end_gone_child, (_me, task_id))


def end_gone_child(me: WorkerIdentity, task_id: str) -> None:
    """Record the attempt of Celery task `task_id` if its child is gone (else the tick will)."""
    try:
        close_old_connections()
        closing_off_loop(lambda: check_children(me, task_id=task_id))
    except Exception:
        logger.exception("could not record the end of task %s", task_id)


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: Any) -> None:
    """Running jobs have finished (warm shutdown) or been killed (cold): end what is left."""
    global _me
    if _me is None:
        return
    me, _me = _me, None
    try:
        close_old_connections()
        for process in JobProcess.objects.of_worker(me.host, me.pid):
            end_process(process, "its worker shut down while it ran")
        JobWorker.objects.forget(me.host, me.pid)
    except Exception:
        logger.exception("could not record the shutdown of %s", me.name)
