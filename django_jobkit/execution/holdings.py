"""What each worker child holds, written on its worker's heartbeat row (`JobWorker.children`).

Resources live in the children, but the heartbeat is written by the worker's main process,
which cannot see inside them. So each child writes its own entry (pid, device, the resources
it holds with their hits) under its pool index: when its set of resources changes, when it
runs its first GPU job, and otherwise at most once per `JOBKIT_HEARTBEAT_INTERVAL` as hits
grow. A replaced child (`--max-tasks-per-child`, a crash) takes its index and its entry over.
Nothing is written from `worker_process_init` (no I/O there): the child only notes where it
is. A failed write is logged and never fails the job that caused it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from celery.signals import worker_process_init, worker_ready

from ..conf import jobkit_settings
from ..models import JobWorker
from . import gpu

logger = logging.getLogger("django_jobkit.worker")

#: (host, the worker main process's pid, this process's pool index), once inside a worker.
_place: tuple[str, int, int] | None = None
#: time.monotonic() of this process's last written entry (None: not written yet).
_written_at: float | None = None


@worker_process_init.connect(dispatch_uid="django_jobkit.holdings.child")
def _in_child(**kwargs: Any) -> None:
    global _place, _written_at
    _place, _written_at = (socket.gethostname(), os.getppid(), gpu.pool_index()), None


@worker_ready.connect(dispatch_uid="django_jobkit.holdings.main")
def _in_main(**kwargs: Any) -> None:
    # The solo, threads and gevent pools run jobs in the main process: it is child 0.
    global _place, _written_at
    _place, _written_at = (socket.gethostname(), os.getpid(), 0), None


Describe = Callable[[], list[dict[str, Any]]]


def entry(held: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "device": gpu.current_entry() or None,
        "resources": held,
        "reported_at": time.time(),
    }


def report(describe: Describe, changed: bool = True) -> bool:
    """Write this child's entry: now when `changed`, else only when the last one is older
    than a heartbeat interval; whether it was written."""
    global _written_at
    if _place is None:
        return False  # not in a worker (a test run in-process, an eager call)
    now = time.monotonic()
    recent = _written_at is not None and now - _written_at < jobkit_settings.HEARTBEAT_INTERVAL
    if not changed and recent:
        return False
    _written_at = now
    host, worker_pid, index = _place
    try:
        return JobWorker.objects.report_child(host, worker_pid, index, entry(describe()))
    except Exception:
        logger.exception("could not write what worker child %s holds", index)
        return False


def report_once(describe: Describe) -> None:
    """Write this child's entry if it never has (its first GPU job shows its device)."""
    if _written_at is None:
        report(describe)
