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
class SlowLoaderJob(Job):
    """Uses a resource whose loader takes `load_seconds` (a model being read from disk)."""

    def __init__(self, load_seconds: float = 2.0):
        self.load_seconds = load_seconds

    def load(self) -> dict[str, float]:
        time.sleep(self.load_seconds)
        return {"loaded_at": time.time()}

    def run(self) -> float:
        return self.resource("bench-model", self.load)["loaded_at"]


@register_job
class LatencyJob(Job):
    def run(self) -> None:
        probe.started = time.time()


probe.install()
