"""Database connections in workers: kept between jobs, as Django keeps them between requests.

Celery's Django fix-up closes every database connection before and after every task and
ignores `CONN_MAX_AGE` (the change that honoured it was reverted, celery/celery#9824), so a
stock worker opens a new connection per task — on PostgreSQL about 2.6 ms, a third of the
worker's speed. Unless the project set `CELERY_DB_REUSE_MAX` itself (the fix-up's own knob),
jobkit replaces those two per-task closes with Django's own per-request rule: a connection
lives `CONN_MAX_AGE` seconds, is dropped after an error made it unusable, and with
`CONN_HEALTH_CHECKS` is checked before reuse once it has been idle for a second; a connection
that dies under a busy worker is replaced by `worker`'s one retry of the failed statement.
With `JOBKIT_KEEP_DB_CONNECTIONS = False` the fix-up is left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import signals
from django.core.cache import close_caches
from django.db import connections

from ..conf import jobkit_settings

logger = logging.getLogger("django_jobkit.connections")

T = TypeVar("T")


def on_own_thread() -> bool:
    """Whether this is Celery's timer running as a thread of its own (a worker without an
    event loop, e.g. on the filesystem transport), not the worker's own loop."""
    from celery.utils.timer2 import Timer

    return isinstance(threading.current_thread(), Timer)


def closing_off_loop(fn: Callable[[], T]) -> T:
    """Run `fn`; where it ran on the timer's own thread, close the connections it opened.

    Django's connections belong to the thread that opened them, and the timer thread's are
    never closed when it ends (on Python 3.13+ that is a ResourceWarning, on PostgreSQL an
    idle session until the process exits). A timer tick every few seconds can afford a new
    connection; on the event loop the connection is the loop's and is kept.
    """
    try:
        return fn()
    finally:
        if on_own_thread():
            connections.close_all()


def django_worker_fixup(app: Any) -> Any | None:
    """The Celery app's Django worker fix-up, or None when the app has none."""
    from celery.fixups.django import DjangoFixup

    for fixup in getattr(app, "_fixups", None) or []:
        if isinstance(fixup, DjangoFixup):
            return fixup.worker_fixup
    return None


def keep_connections(app: Any) -> bool:
    """Swap the fix-up's per-task closing for Django's rule; True when it was swapped."""
    worker_fixup = django_worker_fixup(app)
    if worker_fixup is None or worker_fixup.db_reuse_max:
        return False  # no Django fix-up, or the project tuned it itself
    signals.task_prerun.disconnect(worker_fixup.on_task_prerun)
    signals.task_postrun.disconnect(worker_fixup.on_task_postrun)
    signals.task_prerun.connect(_before_task, weak=False, dispatch_uid="jobkit-conn-prerun")
    signals.task_postrun.connect(_after_task, weak=False, dispatch_uid="jobkit-conn-postrun")
    logger.debug("database connections are kept between tasks (CONN_MAX_AGE applies)")
    return True


#: A connection idle longer than this is health-checked before the next job uses it; one that
#: served a job moments ago is not (a busy worker would pay a `SELECT 1` per job otherwise).
IDLE_CHECK_AFTER = 1.0

_last_used: dict[str, float] = {}


def _before_task(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is None:
            continue
        idle = now - _last_used.get(conn.alias, 0.0)
        expired = conn.close_at is not None and now >= conn.close_at
        if idle > IDLE_CHECK_AFTER or expired or conn.errors_occurred:
            # Django's per-request rule: CONN_MAX_AGE, errors, and with CONN_HEALTH_CHECKS
            # a check before the next query.
            conn.close_if_unusable_or_obsolete()


def _after_task(sender: Any = None, **kwargs: Any) -> None:
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred or (conn.close_at is not None and now >= conn.close_at):
            conn.close_if_unusable_or_obsolete()
        _last_used[conn.alias] = now
    close_caches()


# Django, and so this module, is set up after `worker_init`; `celeryd_after_setup` comes once
# the worker is set up and before it forks its pool, whose children inherit the swap.
@signals.celeryd_after_setup.connect(weak=False, dispatch_uid="jobkit-conn-setup")
def _on_worker_setup(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    if jobkit_settings.KEEP_DB_CONNECTIONS and instance is not None:
        keep_connections(instance.app)
