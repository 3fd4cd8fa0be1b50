"""The task functions the tasks-backend conformance suite enqueues (`tasks_conformance`).

Plain module-level functions, not decorated: the suite binds each to the backend under test
(`TasksBackendConformance.make_task`), so that importing this module validates nothing against
the project's default backend (which may refuse async functions, say). Every function takes
the test's `marker` first (after `context`), so that a test only ever looks at its own tasks.

What a function saw while it ran comes back in its return value: that is the one channel every
backend carries from wherever the task runs (this process, a worker thread, another machine).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


class ConformanceError(Exception):
    """Raised by `fail`, so that a test can tell its own error from any other."""


def echo(marker: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """What it was given, as it was given it."""
    return {"marker": marker, "args": args, "kwargs": kwargs}


def shaped(marker: str) -> dict[str, Any]:
    """A return value that JSON normalises: tuples become lists, at any depth."""
    return {
        "marker": marker,
        "tuple": (1, 2.5, "three", None, True),
        "nested": {"inner": (("a", 1),), "list": [(2,)]},
    }


def fail(marker: str) -> None:
    """Fails with a `ConformanceError` whose message names the marker."""
    raise ConformanceError(f"conformance failure {marker}")


def observe(context: Any, marker: str, *args: Any) -> dict[str, Any]:
    """What a task taking the context sees of itself while it runs: its result's id, status and
    attempt from the context, and the status the backend stores for it (None where the backend
    does not claim `supports_get_result`)."""
    task_result = context.task_result
    backend = task_result.task.get_backend()
    stored = None
    if backend.supports_get_result:
        stored = str(backend.get_result(task_result.id).status)
    return {
        "marker": marker,
        "args": args,
        "id": task_result.id,
        "status": str(task_result.status),
        "stored_status": stored,
        "attempt": context.attempt,
        "worker_ids": list(task_result.worker_ids),
    }


async def async_echo(marker: str, *args: Any) -> dict[str, Any]:
    """An async def task: it awaits before it answers."""
    await asyncio.sleep(0)
    return {"marker": marker, "args": args, "async": True}


def stamp(marker: str, label: str) -> dict[str, Any]:
    """When it ran (nanoseconds since the epoch), for tests on the order tasks run in."""
    return {"marker": marker, "label": label, "ns": time.time_ns()}
