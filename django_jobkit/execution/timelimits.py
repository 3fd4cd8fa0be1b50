"""Which time limits a worker's pool enforces, what the worker says about it at start, and the
seconds of the limit an attempt ran under.

Celery enforces time limits only where it can interrupt a job: the prefork pool (the soft
limit by a signal to the child, the hard one by killing it) and gevent (the hard limit only, at
the job's next cooperative switch). solo, threads and eventlet enforce neither, so a job with
a `timeout` runs to its end there. Such a worker says so when it starts, and a job that ends
past its limit there is recorded as timed out (ERRORED, with what it returned and why it was
not stopped) rather than as if it had kept its limit.

Celery hands a worker-wide `--soft-time-limit`/`--time-limit` to the pool only, not to the
task: the worker's main process notes them when it starts (prefork children inherit the note).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from billiard.process import current_process
from celery import concurrency, current_app
from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import celeryd_after_setup, worker_init
from django.core.signals import setting_changed
from django.utils import timezone

from ..conf import jobkit_settings

if TYPE_CHECKING:
    from ..models import JobProcess

logger = logging.getLogger("django_jobkit.worker")

FULL, HARD_ONLY, NONE = "full", "hard only", "none"
#: What billiard's SIGTERM handler in a pool child raises SystemExit with.
SIGTERM_EXIT = -(256 - signal.SIGTERM)


@dataclass(frozen=True)
class WorkerLimits:
    """The pool a worker runs jobs on and its worker-wide limits (seconds, None: no limit)."""

    pool: str  #: the pool's alias ("prefork", "solo", ...) or its class path
    enforcement: str  #: FULL, HARD_ONLY or NONE
    soft: float | None = None
    hard: float | None = None


#: Noted in a worker's main process when it starts; forked prefork children inherit it.
_worker: WorkerLimits | None = None
_HOST = socket.gethostname()


def pool_enforcement(pool_cls: Any) -> str:
    """FULL, HARD_ONLY or NONE: which time limits a Celery pool class enforces."""
    if isinstance(pool_cls, type) and issubclass(pool_cls, PreforkPool):
        return FULL
    # Told by module name: importing celery.concurrency.gevent would import gevent itself.
    if getattr(pool_cls, "__module__", "") == "celery.concurrency.gevent":
        return HARD_ONLY
    return NONE


def pool_name(pool_cls: Any) -> str:
    """The name `-P` takes for a pool class ("threads"), else its path."""
    path = f"{pool_cls.__module__}:{pool_cls.__qualname__}"
    aliases: dict[str, str] = getattr(concurrency, "ALIASES", {})
    return next((alias for alias, target in aliases.items() if target == path), path)


@worker_init.connect(dispatch_uid="django_jobkit.timelimits.note_worker")
def note_worker(sender: Any = None, **kwargs: Any) -> None:
    global _worker
    try:
        pool_cls = get_implementation(sender.pool_cls)
    except Exception:  # an unknown pool: Celery reports it itself when it starts the pool
        return
    _worker = WorkerLimits(
        pool=pool_name(pool_cls),
        enforcement=pool_enforcement(pool_cls),
        soft=getattr(sender, "soft_time_limit", None) or None,
        hard=getattr(sender, "time_limit", None) or None,
    )


@celeryd_after_setup.connect(dispatch_uid="django_jobkit.timelimits.warn_at_start")
def warn_at_start(sender: Any = None, **kwargs: Any) -> None:
    line = start_warning(_worker)
    if line:
        logger.warning(line)


def start_warning(worker: WorkerLimits | None) -> str:
    """The line a worker whose pool cannot enforce time limits logs at start; "" if it can."""
    if worker is None or worker.enforcement == FULL:
        return ""
    if worker.enforcement == HARD_ONLY:
        return (
            f"The {worker.pool} pool enforces only hard time limits, at a job's next "
            "cooperative switch: a job with a timeout is stopped no sooner than its timeout "
            f"plus JOBKIT_TIMEOUT_GRACE ({jobkit_settings.TIMEOUT_GRACE:g} s), and one that "
            "ends past its timeout is recorded ERRORED (timed out) with what it returned. Use "
            "the prefork pool to stop jobs at their timeout."
        )
    return (
        f"The {worker.pool} pool cannot enforce time limits: jobs with a timeout (and this "
        "worker's --soft-time-limit/--time-limit) run to their end, and one that ends past its "
        "timeout is recorded ERRORED (timed out) with what it returned. Use the prefork pool "
        "to stop jobs at their timeout."
    )


def enforced_here() -> bool:
    """Whether jobs run in this process are stopped at their soft limit: in a prefork child."""
    return bool(current_process().name != "MainProcess")


def soft_limit(timeout: int | None) -> float | None:
    """The soft limit a job runs under here: its own timeout, else the worker's (or app's)."""
    if timeout:
        return timeout
    if _worker is not None and (_worker.soft or _worker.hard):
        return _worker.soft or _worker.hard
    return app_limit()


_app_limits: dict[int, float | None] = {}


def app_limit() -> float | None:
    """The app's `task_soft_time_limit` (else `task_time_limit`), read once per app: each
    read through Celery's Django-namespaced configuration costs tens of microseconds, and
    this is asked for every job."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    key = id(app)
    if key not in _app_limits:
        conf = app.conf
        _app_limits[key] = conf.task_soft_time_limit or conf.task_time_limit or None
    return _app_limits[key]


def _forget_app_limits(**kwargs: Any) -> None:
    _app_limits.clear()


setting_changed.connect(_forget_app_limits)


def limit_of(process: JobProcess) -> float | None:
    """The limit an attempt ran under, as this process can tell: its timeout, or this
    worker's own limits when this is the main process of the worker that ran it."""
    if process.timeout:
        return process.timeout
    if process.host == _HOST and process.worker_pid == os.getpid():
        return soft_limit(None)
    return None


def killed_at_hard_limit(process: JobProcess, exc: BaseException) -> bool:
    """Whether `exc` is the pool stopping this child at the attempt's hard time limit.

    billiard stops a child past its hard limit with SIGTERM (raised here as SystemExit) and
    SIGKILL 0.1 s later. The child must then do nothing but exit: billiard's exit path writes
    to the pool's result pipe under a lock that, in a pool without an event loop (the
    filesystem transport's), all children share; a SIGKILL that lands while the child holds
    it leaves it held for good, no later child can report to the pool, and the worker takes
    no more jobs. Recording the attempt here (a few database round trips) moved that write
    to the 0.1 s mark, so the worker's main process records it instead (see `heartbeat`). A
    cancel that lands past the soft limit looks the same here; the main process still records
    it as CANCELLED.
    """
    if not (isinstance(exc, SystemExit) and exc.code == SIGTERM_EXIT and enforced_here()):
        return False
    limit = soft_limit(process.timeout)  # None or positive
    return limit is not None and (timezone.now() - process.started_at).total_seconds() >= limit


def timed_out_message(limit: float | None) -> str:
    return f"timed out after {limit:g} s" if limit else "timed out"


def overrun(limit: float | None, elapsed: float) -> str:
    """The error of a job that ended past its limit on a pool that could not stop it; "" when
    it kept its limit or the pool enforces it."""
    if not limit or elapsed < limit or enforced_here():
        return ""
    pool = f"the {_worker.pool} pool" if _worker is not None else "this process (no worker pool)"
    return (
        f"{timed_out_message(limit)}: it ran {elapsed:.1f} s to its end, as {pool} cannot stop "
        "a job at its time limit (the prefork pool can)"
    )
