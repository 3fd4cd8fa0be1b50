"""Worker heartbeats, and each worker watching over its own children.

A worker's main process writes a heartbeat row every `JOBKIT_HEARTBEAT_INTERVAL` seconds from
Celery's own timer (no extra thread, so forking pool children stays safe). The same tick
looks at the jobs its children are running: a child that died (SIGKILL, out of memory, a hard
time limit, a cancel) leaves a process row whose pid is gone, which the parent's heartbeat
alone would never reveal. The sweeper handles the other case: a whole worker that went silent.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from celery.signals import task_revoked, worker_ready, worker_shutdown
from django.db import close_old_connections
from django.utils import timezone

from .conf import jobkit_settings

logger = logging.getLogger("django_jobkit.heartbeat")


@dataclass
class WorkerIdentity:
    name: str
    queues: list[str]
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


_me: WorkerIdentity | None = None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def beat(me: WorkerIdentity) -> None:
    """Write this worker's heartbeat and end the jobs of children that died."""
    from .models import JobWorker

    try:
        close_old_connections()
        JobWorker.objects.update_or_create(
            host=me.host,
            pid=me.pid,
            defaults={"name": me.name, "queues": me.queues, "last_seen": timezone.now()},
        )
        check_children(me)
    except Exception:
        logger.exception("heartbeat of %s failed", me.name)


def check_children(me: WorkerIdentity, task_id: str | None = None) -> int:
    """End the running jobs of this worker whose child process is gone; how many."""
    from .aborting import end_process
    from .models import JobProcess

    processes = JobProcess.objects.filter(host=me.host, worker_pid=me.pid)
    if task_id is not None:
        processes = processes.filter(celery_task_id=task_id)
    ended = 0
    for process in processes.exclude(pid=me.pid):
        if process.pid is None or not pid_alive(process.pid):
            ended += end_process(process, f"its worker child (pid {process.pid}) died") is not None
    return ended


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    global _me
    consumer = sender
    queues = [q.name for q in consumer.task_consumer.queues] if consumer.task_consumer else []
    _me = WorkerIdentity(name=consumer.hostname, queues=queues)
    beat(_me)
    consumer.timer.call_repeatedly(jobkit_settings.HEARTBEAT_INTERVAL, beat, (_me,))


@task_revoked.connect
def _on_task_revoked(request: Any = None, terminated: bool = False, **kwargs: Any) -> None:
    # The child was killed on purpose (a cancel): record it now rather than at the next tick.
    if terminated and _me is not None and request is not None:
        try:
            close_old_connections()
            check_children(_me, task_id=request.id)
        except Exception:
            logger.exception("could not record the end of revoked task %s", request.id)


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: Any) -> None:
    """Running jobs have finished (warm shutdown) or been killed (cold): end what is left."""
    global _me
    if _me is None:
        return
    from .aborting import end_process
    from .models import JobProcess, JobWorker

    me, _me = _me, None
    try:
        close_old_connections()
        for process in JobProcess.objects.filter(host=me.host, worker_pid=me.pid):
            end_process(process, "its worker shut down while it ran")
        JobWorker.objects.filter(host=me.host, pid=me.pid).delete()
    except Exception:
        logger.exception("could not record the shutdown of %s", me.name)
