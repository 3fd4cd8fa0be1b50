"""A hook in Celery's revoke command, run in the worker's main process before it acts.

Celery gives no signal before a revoke: `task_revoked` is sent only after a running task's
child was sent its signal (too late to say why it dies: the child records what it sees) or
when a waiting message is finally discarded (the row it names still waits, and the sweeper
would send it again). jobkit needs to mark the job first, so it wraps the function that both
remote-control commands `revoke` and `terminate` call, `celery.worker.control._revoke`, with
a callback that runs before it with the revoked ids and whether they are to be terminated.

Outside `UPSTREAM` the hook stays off with a warning and a revoke is Celery's own again: a
waiting job is cancelled only when its message is discarded (`task_revoked`), and a
terminated one is recorded LOST.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from ..patching import Upstream, applies, patch_method, unpatch_method

logger = logging.getLogger("django_jobkit.compat")

#: Checked against Celery 5.7 (5.6.3's `_revoke` has the same signature and order).
UPSTREAM = Upstream("celery", (5, 7), (5, 8))
#: The upstream code wrapped or relied on, by digest of its source (tests/unit/test_compat.py):
#: `revoke` and `terminate` reach `_revoke` by its module-global name, and `_revoke` sends the
#: terminating signal itself, so the hook runs first.
REPLACES = {
    "celery.worker.control._revoke": "18694eabe82f3ae8",
    "celery.worker.control.revoke": "25c3bde7a118a14d",
    "celery.worker.control.terminate": "31f08532aef33ad2",
}

BeforeRevoke = Callable[[list[str], bool], None]


def install(before_revoke: BeforeRevoke) -> bool:
    """Call `before_revoke(task_ids, terminate)` ahead of every revoke this worker obeys.

    False (with a warning) outside `UPSTREAM`. What the callback raises is logged, and the
    revoke goes on.
    """
    from celery.worker import control

    if not applies(UPSTREAM, "the revoke hook (a revoke from Flower or celery control cancels)"):
        return False

    def make(original: Any) -> Any:
        def _revoke(
            state: Any,
            task_ids: Iterable[str],
            terminate: bool = False,
            signal: Any = None,
            **kwargs: Any,
        ) -> Any:
            task_ids = set(task_ids)
            try:
                before_revoke(sorted(task_ids), bool(terminate))
            except Exception:
                logger.exception("jobkit could not handle the revoke of %s", sorted(task_ids))
            return original(state, task_ids, terminate, signal, **kwargs)

        return _revoke

    patch_method(control, "_revoke", make)
    return True


def uninstall() -> None:
    """Restore Celery's own function (for tests)."""
    from celery.worker import control

    unpatch_method(control, "_revoke")
