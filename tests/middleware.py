"""Job middleware for the worker tests: each layer tags what the layer inside returned."""

from __future__ import annotations

import os
from typing import Any

from django_jobkit.execution.middleware import RunJob
from django_jobkit.models import JobProcess


class TagResult:
    tag = ""

    def __init__(self, run_job: RunJob) -> None:
        self.run_job = run_job

    def __call__(self, job_process: JobProcess) -> Any:
        try:
            value = self.run_job(job_process)
        except Exception as exc:
            raise RuntimeError(f"{self.tag} saw {type(exc).__name__}: {exc}") from exc
        return {
            "tag": self.tag,
            "job_class": job_process.job_class,
            "celery_task_id": job_process.celery_task_id,
            "pid": os.getpid(),
            "inner": value,
        }


class OuterTag(TagResult):
    tag = "outer"


class InnerTag(TagResult):
    tag = "inner"
