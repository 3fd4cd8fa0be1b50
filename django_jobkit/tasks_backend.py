"""A backend for Django's tasks framework that runs tasks as jobkit jobs.

    TASKS = {
        "default": {
            "BACKEND": "django_jobkit.tasks_backend.JobkitBackend",
            "QUEUES": ["default", "slow"],              # the Celery queues tasks may name
            "OPTIONS": {"retries": 2, "timeout": 600},  # defaults for every task
        }
    }

What the framework's other Celery backends do not give: `enqueue` writes the task's row in
the caller's transaction and sends its message only once that commits (no task is lost to a
broker that is down at commit, none runs for a rolled-back view); `run_after` is the row's
start time, so a delayed task survives broker restarts and an early or second delivery cannot
run it; the result id is the row's uuid at once; results, errors per attempt and worker ids
are read from jobkit's records, which the admin shows like any job's. Retries, timeouts,
concurrency keys and limits come from OPTIONS or from `job_options` on the function.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import task_jobs
from ._compat.tasks import require
from .task_jobs import job_options

__all__ = ["JobkitBackend", "job_options"]

#: OPTIONS keys and what each must be.
OPTION_KEYS = {"retries": "an int of 0 or more", "timeout": "an int of 1 or more, or None"}


class JobkitBackend(require().BaseTaskBackend):  # type: ignore[misc]
    """Django's tasks framework on jobkit: every task a job, every result a retry chain."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        unknown = sorted(set(self.options) - set(OPTION_KEYS))
        if unknown:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]['OPTIONS'] has {', '.join(map(repr, unknown))}, which "
                f"JobkitBackend does not know; it takes {', '.join(map(repr, OPTION_KEYS))}"
            )
        retries = self.options.get("retries", 0)
        timeout = self.options.get("timeout")
        for key, value, ok in [
            ("retries", retries, _is_int(retries, 0)),
            ("timeout", timeout, timeout is None or _is_int(timeout, 1)),
        ]:
            if not ok:
                raise ImproperlyConfigured(
                    f"TASKS[{alias!r}]['OPTIONS'][{key!r}] is {value!r}; give {OPTION_KEYS[key]}"
                )
        self.default_retries: int = retries
        self.default_timeout: int | None = timeout

    def validate_task(self, task: Any) -> None:
        super().validate_task(task)
        # Made and registered here, at `@task` time: a worker that imported the function's
        # module has its Celery task before any message arrives.
        task_jobs.job_class_for(task)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        return task_jobs.enqueue(task, args, kwargs, backend=self)

    def get_result(self, result_id: str) -> Any:
        return task_jobs.result_of(result_id, self.alias)


def _is_int(value: Any, lo: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= lo
