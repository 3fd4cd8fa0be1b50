"""The job middleware chain, built like Django's: each layer wraps the next.

A middleware is a class taking `get_result` (the next layer) and called with the
`JobProcess`; it returns what the job's `run()` returned, or raises what it raised.

    class TimingMiddleware:
        def __init__(self, run_job):
            self.run_job = run_job

        def __call__(self, job_process):
            started = time.monotonic()
            try:
                return self.run_job(job_process)
            finally:
                log(job_process.job_class, time.monotonic() - started)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from ..conf import jobkit_settings
from ..enqueue import batches
from . import gpu, holdings
from .resources import resources

if TYPE_CHECKING:
    from ..jobs import Job
    from ..models import JobProcess

RunJob = Callable[["JobProcess"], Any]


def run_job(job_process: JobProcess) -> Any:
    """The innermost layer: build the job from its stored arguments and run it."""
    job: Job = job_process.load_job()
    job._jobkit_process = job_process  # for `Job.batch`
    if getattr(job, "needs_gpu", False):
        gpu.require(bool(getattr(job, "allow_cpu", False)), job_process.job_class)
        holdings.report_once(resources.describe)  # the worker's row shows this child's device
    with batches.inside(job_process.batch_uuid):  # a batch it starts nests in its own
        return job.run()


@cache
def _chain(paths: tuple[str, ...]) -> RunJob:
    handler: RunJob = run_job
    for path in reversed(paths):
        handler = import_string(path)(handler)
    return handler


def chain() -> RunJob:
    """The chain for the current `JOBKIT_MIDDLEWARE`, built once per distinct setting."""
    return _chain(tuple(jobkit_settings.MIDDLEWARE))
