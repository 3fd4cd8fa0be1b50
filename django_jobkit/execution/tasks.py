"""Each registered Job class becomes one Celery task, named after the class.

Registered with `shared_task`, so it binds to the project's own Celery app (jobkit never creates
one), and Celery's routing, rate limits, `celery inspect`, Flower and revoke all see real names.
The message carries only the request's uuid: the database holds everything else.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task, shared_task

from .. import registry
from ..exceptions import AttemptFailed, NotAJobMessage
from ..models import JobResult
from . import celery_state, runner

logger = logging.getLogger("django_jobkit.worker")

_tasks: dict[str, Task[Any, Any]] = {}


def compile_task(name: str) -> Task[Any, Any]:
    """The Celery task for a job name (a current name or an alias), made once per name."""

    def execute(self: Task[Any, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            request_uuid = request_uuid_of(name, args, kwargs)
        except NotAJobMessage as exc:
            logger.warning("%s", exc)
            if self.request.is_eager:
                return None
            raise
        result = runner.execute_request(request_uuid, self.request)
        if result is None:  # nothing ran here: report what the request came to, if anything
            result = JobResult.objects.of_request(request_uuid)
        if self.request.is_eager:
            return None if result is None else result.return_value
        return celery_state.report(result)

    execute.__name__ = execute.__qualname__ = name.rsplit(".", 1)[-1]
    execute.__module__ = name.rsplit(".", 1)[0]
    # jobkit records results itself: Celery's result backend must not write a second copy.
    # What the task raises to report a failed attempt is expected: one log line, no traceback.
    task = shared_task(
        name=name,
        bind=True,
        ignore_result=True,
        typing=False,
        throws=(AttemptFailed, NotAJobMessage),
    )(execute)
    _tasks[name] = task
    return task


def request_uuid_of(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The request uuid a job message carries; `NotAJobMessage` for anything else.

    A job task called the plain-Celery way (`.delay(1, 2)`, `celery call`, a periodic task
    made by hand in beat's admin) gets one line saying how to enqueue the job instead.
    """
    how = (
        f"enqueue it with {name.rsplit('.', 1)[-1]}(...).run_in_worker(), or run it on a "
        "schedule with a Schedule on the job class or JOBKIT_SCHEDULE"
    )
    if len(args) != 1 or kwargs:
        raise NotAJobMessage(
            f"{name} was called with args={list(args)!r} kwargs={kwargs!r}; nothing was run: "
            f"its Celery task takes only the uuid of a request that jobkit wrote. To run the "
            f"job, {how}"
        )
    try:
        return str(uuid.UUID(str(args[0])))
    except ValueError:
        raise NotAJobMessage(
            f"{name} was sent {args[0]!r}, which is not a request uuid; nothing was run. To run "
            f"the job, {how}"
        ) from None


def task_for(name: str) -> Task[Any, Any]:
    """The Celery task a registered job name compiles to (aliases resolve to the current name)."""
    return _tasks[registry.name_for(registry.job_class_for(name))]


@shared_task(name="django_jobkit.sweep", ignore_result=True)
def sweep() -> str:
    """The periodic sweep, sent by beat every `JOBKIT_SWEEP_INTERVAL` seconds."""
    from .sweeper import Sweeper

    return str(Sweeper().sweep())
