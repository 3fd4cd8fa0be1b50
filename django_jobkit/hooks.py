"""Calling a job's own hooks about its records: a failing hook is logged, never raised.

A hook is user code that runs after jobkit has recorded something; an exception in it must
not undo or hide that record, and must not stop the worker or the sweeper calling it.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("django_jobkit.hooks")


def notify_aborted(result: Any) -> None:
    """Call the job's `on_aborted(result)` for a LOST or CANCELLED attempt."""
    try:
        result.load_job().on_aborted(result)
    except Exception:
        logger.exception("on_aborted of %s %s failed", result.job_class, result.job_request_uuid)
