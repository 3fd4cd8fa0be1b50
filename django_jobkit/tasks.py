"""Each registered Job class becomes one Celery task, named after the class.

Registered with `shared_task`, so it binds to the project's own Celery app (jobkit never creates
one), and Celery's routing, rate limits, `celery inspect`, Flower and revoke all see real names.
The message carries only the request's uuid: the database holds everything else.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task


def compile_task(name: str) -> Task[Any, Any]:
    def execute(self: Task[Any, Any], request_uuid: str) -> None:
        from .worker import execute_request

        execute_request(request_uuid, self.request)

    execute.__name__ = execute.__qualname__ = name.rsplit(".", 1)[-1]
    execute.__module__ = name.rsplit(".", 1)[0]
    # jobkit records results itself: Celery's result backend must not write a second copy.
    return shared_task(name=name, bind=True, ignore_result=True, typing=False)(execute)


@shared_task(name="django_jobkit.sweep", ignore_result=True)
def sweep() -> str:
    """The periodic sweep, sent by beat every `JOBKIT_SWEEP_INTERVAL` seconds."""
    from .sweeper import Sweeper

    return str(Sweeper().sweep())
