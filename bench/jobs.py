"""The benchmark's jobs, found by jobkit's autodiscovery in the worker like any app's jobs."""

from __future__ import annotations

import time

from bench import probe
from django_jobkit import GPUJob, Job, register_job


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
class CudaProbeJob(GPUJob):
    """What CUDA shows a pinned child (bench/gpu_check.py): the one device it sees, and the
    time of a matrix product on a model kept warm with `self.resource`."""

    def run(self) -> dict[str, object]:
        import os

        import torch  # in the child only: the worker's main process never touches CUDA

        def load() -> object:
            return torch.nn.Linear(4096, 4096).to(self.device)

        started = time.perf_counter()
        model = self.resource("bench-cuda-linear", load)
        with torch.no_grad():
            model(torch.randn(4096, 4096, device=self.device)).sum().item()
        torch.cuda.synchronize()
        props = torch.cuda.get_device_properties(0)
        return {
            "pid": os.getpid(),
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "count": torch.cuda.device_count(),
            "name": props.name,
            "uuid": str(getattr(props, "uuid", "")),
            "seconds": time.perf_counter() - started,
        }


@register_job
class LatencyJob(Job):
    def run(self) -> None:
        probe.started = time.time()


probe.install()
