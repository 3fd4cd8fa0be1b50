"""Celery's revoke of a jobkit job is a jobkit cancel, from whichever tool it comes.

Flower's revoke button and API, `celery control revoke [--terminate]`, `celery control
terminate` and `app.control.revoke` all broadcast Celery's `revoke` command; the task id of a
jobkit message is its request uuid. Each worker's main process, before Celery acts on the
command (`_compat.celery.revoke`):

- records CANCELLED every waiting request among the ids, at once: it never runs, whatever
  happens to its message later (a worker restart forgets Celery's in-memory revoked set, and
  the sweeper would otherwise send the message again);
- marks the running attempts among them to be cancelled, so that a child Celery then
  terminates records CANCELLED (not LOST) and is not retried, and so that an attempt revoked
  without terminate, which Celery lets run on, is not retried if it fails.

A message Celery discards as revoked (its revoked set, kept across restarts by `--statedb`,
or expired) cancels its request too, through `task_revoked`.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery.signals import task_revoked
from django.db import close_old_connections

from .. import hooks, registry
from ..models import JobProcess, JobRequest

logger = logging.getLogger("django_jobkit.revokes")

REVOKED_WAITING = "revoked before it started"


def before_revoke(task_ids: list[str], terminate: bool) -> None:
    """Cancel the waiting jobs among `task_ids` and mark the running ones (see the module)."""
    request_uuids = [u for u in map(_as_uuid, task_ids) if u is not None]
    if not request_uuids:
        return
    close_old_connections()
    cancelled = JobRequest.objects.cancel_all(request_uuids, REVOKED_WAITING)
    marked = JobProcess.objects.request_cancel_of(request_uuids)
    for result in cancelled:
        hooks.notify(result)
    if cancelled or marked:
        logger.info(
            "revoke%s: %d waiting job(s) cancelled, %d running job(s) marked to be cancelled",
            " with terminate" if terminate else "",
            len(cancelled),
            marked,
        )


@task_revoked.connect
def _on_discarded(
    sender: Any = None,
    request: Any = None,
    terminated: bool = False,
    expired: bool = False,
    **kwargs: Any,
) -> None:
    """A jobkit message Celery discards as revoked or expired: its request must not wait on."""
    if terminated or request is None or not registry.is_job_task(getattr(sender, "name", None)):
        return
    request_uuid = _as_uuid(request.id)
    if request_uuid is None:
        return
    error = "its message expired before it started" if expired else REVOKED_WAITING
    try:
        close_old_connections()
        for result in JobRequest.objects.cancel_all([request_uuid], error):
            hooks.notify(result)
    except Exception:
        logger.exception("could not cancel revoked request %s", request.id)


def _as_uuid(task_id: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(task_id))
    except ValueError:
        return None
