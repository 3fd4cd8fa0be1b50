"""Background jobs for Django: a row in your database first, a Celery message second."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING, Any

__all__ = [
    "DeferJob",
    "GPUJob",
    "Job",
    "Limit",
    "Schedule",
    "bulk_run_in_worker",
    "register_job",
    "run_batch",
]

try:
    __version__ = metadata.version("django-jobkit")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from .enqueue.batches import run_batch
    from .enqueue.limits import Limit
    from .enqueue.service import bulk_run_in_worker
    from .exceptions import DeferJob
    from .jobs import GPUJob, Job, register_job
    from .scheduling.schedule import Schedule

# Resolved lazily so that `import django_jobkit` in settings or celery.py never imports models.
_LAZY = {
    "Job": ".jobs",
    "GPUJob": ".jobs",
    "Limit": ".enqueue.limits",
    "run_batch": ".enqueue.batches",
    "bulk_run_in_worker": ".enqueue.service",
    "register_job": ".jobs",
    "DeferJob": ".exceptions",
    "Schedule": ".scheduling.schedule",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'django_jobkit' has no attribute {name!r}")
