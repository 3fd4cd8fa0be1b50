"""The benchmark's jobs, found by jobkit's autodiscovery in the worker like any app's jobs."""

from __future__ import annotations

import time

from bench import probe
from django_jobkit import Job, register_job


@register_job
class NoopJob(Job):
    def run(self) -> None:
        return None


@register_job
class LatencyJob(Job):
    def run(self) -> None:
        probe.started = time.time()


probe.install()
