"""Task functions of Django's tasks framework, run by jobkit's backend in the tests.

Imported at start-up like `jobs.py` (the settings' TASKS names jobkit's backend), so that
worker subprocesses have their Celery tasks.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from django.dispatch import receiver

from django_jobkit import Limit
from django_jobkit._compat.tasks import require
from django_jobkit.tasks_backend import job_options
from django_jobkit.testing import tasks_conformance_tasks as c

try:
    from django.tasks import task  # Django 6.0
except ImportError:  # Django 5.2, with the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {"args": list(args), "kwargs": kwargs}


@task
def fail(message: str) -> None:
    raise ValueError(message)


@task(takes_context=True)
@job_options(retries=2)
def fail_twice_then(context: Any, marker: str) -> str:
    """Fails on its first two attempts (as the framework counts them), then succeeds."""
    if context.attempt <= 2:
        raise RuntimeError(f"attempt {context.attempt} of {marker} fails")
    return marker


@task
@job_options(retries=1, retry_delay=3600)
def fail_and_retry_later(marker: str) -> None:
    raise RuntimeError(f"{marker} fails; its retry waits an hour")


@task
def fails_until_file(path: str) -> str:
    """Fails until `path` exists: an operator "fixes" it, then retries from the admin."""
    from pathlib import Path

    if not Path(path).exists():
        raise FileNotFoundError(path)
    return "fixed"


@task(takes_context=True)
def own_result(context: Any) -> dict[str, Any]:
    """What the backend says of this very task while it runs."""
    result = context.task_result
    refreshed = result.task.get_backend().get_result(result.id)
    return {
        "id": result.id,
        "status": str(refreshed.status),
        "attempt": context.attempt,
        "worker_ids": refreshed.worker_ids,
    }


@task
async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@task
@job_options(concurrency_key=lambda user_id: f"user-{user_id}")
def sync_user(user_id: int) -> int:
    return user_id


@task
@job_options(limits=lambda n: [Limit(key="tasks-partner", running=1)], timeout=30)
def limited(n: int) -> int:
    return n


# The conformance suite's functions as tasks of jobkit's backend, made here (as `@task` would)
# so that every worker knows them before its first message: Celery's consumer learns its tasks
# when it starts (tests/worker/test_tasks_conformance_jobkit.py).
for _func in (c.echo, c.shaped, c.fail, c.stamp, c.async_echo):
    task(_func)
task(c.observe, takes_context=True)


@receiver(require().task_started)
@receiver(require().task_finished)
def _note_signal(sender: Any, task_result: Any, signal: Any, **kwargs: Any) -> None:
    """Which of the framework's signals a worker sent, for a test in another process: a file
    per signal and task in the folder `JOBKIT_TEST_SIGNAL_DIR` names (set for that worker)."""
    folder = os.environ.get("JOBKIT_TEST_SIGNAL_DIR")
    if folder:
        name = "started" if signal is require().task_started else "finished"
        note = Path(folder) / f"{name}-{task_result.id}"
        written = note.with_suffix(".part")  # renamed whole: a reader never sees half of it
        written.write_text(f"{sender.__name__} {task_result.status}")
        written.replace(note)
