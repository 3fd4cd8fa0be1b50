"""Telling a job's own hooks and the signals about its records: a failing hook is logged, never
raised.

A hook is user code that runs after jobkit has recorded something; an exception in it must
not undo or hide that record, and must not stop the worker or the sweeper calling it. Hooks
run once the result row is committed (at once in autocommit mode, else when the caller's
transaction commits), so that what they read or enqueue sees the result.

A job class that overrides none of the hooks and a signal nobody listens to cost nothing: the
job is not rebuilt (no model fetched again) and no signal is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from . import registry, signals

logger = logging.getLogger("django_jobkit.hooks")

SUCCESSFUL, ERRORED, LOST, CANCELLED = "SUCCESSFUL", "ERRORED", "LOST", "CANCELLED"


def notify(result: Any) -> None:
    """After the result commits: the job's hook and the signal for how its attempt ended."""
    if result is None:
        return
    moment = _moment(result)
    if moment is None:
        return
    hook, signal = moment
    job_class = (
        registry.job_class_for(result.job_class)
        if registry.is_registered(result.job_class)
        else None
    )
    if not _overrides(job_class, hook) and not signal.has_listeners(job_class):
        return
    using = result._state.db or "default"
    transaction.on_commit(lambda: _call(result, job_class, hook, signal), using=using)


def is_final(result: Any) -> bool:
    """Whether this attempt ends its chain: nothing retries or continues it."""
    return result.status != "DEFERRED" and result.retry_job_request_uuid is None


def _moment(result: Any) -> tuple[str, Any] | None:
    if result.status == SUCCESSFUL:
        return "on_success", signals.job_succeeded
    if result.status == ERRORED and result.retry_job_request_uuid is None:
        return "on_failure", signals.job_failed
    if result.status in (LOST, CANCELLED):
        return "on_aborted", signals.job_aborted
    return None  # errored with a retry to come, or deferred: the chain goes on


def _overrides(job_class: Any, hook: str) -> bool:
    """Whether the class defines the hook itself (`Job`'s own do nothing, marked so)."""
    method = getattr(job_class, hook, None)
    return method is not None and not getattr(method, "default_rule", False)


def _call(result: Any, job_class: Any, hook: str, signal: Any) -> None:
    if _overrides(job_class, hook):
        try:
            getattr(result.load_job(), hook)(result)
        except Exception:
            logger.exception("%s of %s %s failed", hook, result.job_class, result.job_request_uuid)
    if signal.has_listeners(job_class):
        for receiver, response in signal.send_robust(sender=job_class, result=result):
            if isinstance(response, Exception):
                logger.error(
                    "a receiver (%r) of %s for %s %s failed",
                    receiver,
                    _signal_name(signal),
                    result.job_class,
                    result.job_request_uuid,
                    exc_info=response,
                )


def _signal_name(signal: Any) -> str:
    for name in ("job_succeeded", "job_failed", "job_aborted"):
        if getattr(signals, name) is signal:
            return name
    return "a signal"
