"""Fixture jobs shared by every test layer (found by autodiscovery in workers too)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from django_jobkit import DeferJob, GPUJob, Job, Limit, Schedule, register_job


@register_job
class NoopJob(Job):
    def __init__(self, value: Any = None, *, queue: str = "default", key: str = ""):
        self.value = value
        self.queue = queue
        self.key = key

    def default_queue(self) -> str:
        return self.queue

    def default_concurrency_key(self) -> str:
        return self.key

    def run(self) -> Any:
        return self.value


@register_job
class EchoJob(Job):
    """Returns a description of what it received, to check parameters round-trip."""

    def __init__(self, *args: Any, **kwargs: Any):
        self.args = args
        self.kwargs = kwargs

    def run(self) -> Any:
        return {
            "args": [repr(a) for a in self.args],
            "kwargs": {k: repr(v) for k, v in self.kwargs.items()},
        }


@register_job
class FailingJob(Job):
    def __init__(self, message: str = "boom", retries: int = 0, delay: int = 0):
        self.message = message
        self.retries = retries
        self.delay = delay

    def default_retries(self) -> int:
        return self.retries

    def calculate_retry_delay(self, attempt: int) -> int:
        return self.delay

    def run(self) -> None:
        raise RuntimeError(self.message)


@register_job
class FailOnceJob(Job):
    """Fails on its first attempt, succeeds on the next."""

    def default_retries(self) -> int:
        return 2

    def run(self) -> str:
        from django_jobkit.models import JobResult

        if not JobResult.objects.filter(job_class="tests.jobs.FailOnceJob").exists():
            raise RuntimeError("first attempt fails")
        return "ok"


@register_job
class SlowJob(Job):
    def __init__(self, seconds: float = 1.0, *, queue: str = "default", key: str = ""):
        self.seconds = seconds
        self.queue = queue
        self.key = key

    def default_queue(self) -> str:
        return self.queue

    def default_concurrency_key(self) -> str:
        return self.key

    def run(self) -> float:
        time.sleep(self.seconds)
        return self.seconds


@register_job
class RecordStartJob(Job):
    """Returns when and where it started, for ordering and timing assertions."""

    def __init__(self, tag: str = "", *, queue: str = "default", priority: int = 0):
        self.tag = tag
        self.queue = queue
        self.priority = priority

    def default_queue(self) -> str:
        return self.queue

    def default_priority(self) -> int:
        return self.priority

    def run(self) -> dict[str, Any]:
        return {"tag": self.tag, "started": time.time(), "pid": os.getpid()}


@register_job
class SystemExitJob(Job):
    def run(self) -> None:
        sys.exit(3)


@register_job
class KeyboardInterruptJob(Job):
    def run(self) -> None:
        raise KeyboardInterrupt


@register_job
class DeferringJob(Job):
    """Defers itself `times` times, then succeeds."""

    def __init__(self, times: int = 1, delay: float = 0):
        self.times = times
        self.delay = delay

    def run(self) -> str:
        from django_jobkit.models import JobResult

        deferred = JobResult.objects.filter(
            job_class=self.__class__.__module__ + "." + self.__class__.__qualname__,
            status=JobResult.Status.DEFERRED,
        ).count()
        if deferred < self.times:
            raise DeferJob(delay=self.delay)
        return "done"


@register_job
class NotJSONReturnJob(Job):
    def run(self) -> object:
        return object()


@register_job
class AtMostTwoPerTenantJob(Job):
    """A custom should_enqueue policy: at most two pending-or-running per tenant key."""

    def __init__(self, tenant: str):
        self.tenant = tenant

    def default_concurrency_key(self) -> str:
        return f"tenant-{self.tenant}"

    def should_enqueue(self, concurrency_key: str) -> bool:
        from django_jobkit.models import JobProcess, JobRequest

        name = "tests.jobs.AtMostTwoPerTenantJob"
        count = (
            JobRequest.objects.filter(job_class=name, concurrency_key=concurrency_key).count()
            + JobProcess.objects.filter(job_class=name, concurrency_key=concurrency_key).count()
        )
        return count < 2

    def run(self) -> str:
        return self.tenant


@register_job
class AppendLineJob(Job):
    """Appends a line to a file: the file tells how many times the job body really ran."""

    def __init__(self, path: str, line: str = "ran"):
        self.path = path
        self.line = line

    def run(self) -> str:
        with open(self.path, "a") as file:
            file.write(self.line + "\n")
        return self.line


@register_job
class BackoffFailingJob(Job):
    """Always fails; retry `attempt` waits `attempt` seconds (1 s before the first retry)."""

    def __init__(self, retries: int = 2):
        self.retries = retries

    def default_retries(self) -> int:
        return self.retries

    def calculate_retry_delay(self, attempt: int) -> int:
        return attempt

    def run(self) -> None:
        raise RuntimeError("this attempt failed")


@register_job
class UsernameJob(Job):
    """Takes a model instance (an auth User) and returns what the worker fetched."""

    def __init__(self, user: Any, *, retries: int = 0):
        self.user = user
        self.retries = retries

    def default_retries(self) -> int:
        return self.retries

    def run(self) -> dict[str, Any]:
        return {"pk": self.user.pk, "username": self.user.username}


@register_job
class SleepFirstAttemptJob(Job):
    """Sleeps on its first attempt (to be killed, cancelled or timed out), then succeeds."""

    def __init__(self, seconds: float = 30, *, retries: int = 0, timeout: int | None = None):
        self.seconds = seconds
        self.retries = retries
        self.timeout = timeout

    def default_retries(self) -> int:
        return self.retries

    def default_timeout(self) -> int | None:
        return self.timeout

    def run(self) -> str:
        from django_jobkit.models import JobResult

        if not JobResult.objects.filter(job_class="tests.jobs.SleepFirstAttemptJob").exists():
            time.sleep(self.seconds)
            return "slept"
        return "second attempt"

    def on_aborted(self, result: Any) -> None:
        from django.core.cache import cache

        cache.set(f"aborted-{result.job_request_uuid}", result.status, 300)


@register_job
class IgnoresSoftLimitJob(Job):
    """Swallows the soft time limit and keeps going, so only the hard limit can stop it."""

    def __init__(self, timeout: int | None = 1):
        self.timeout = timeout

    def default_timeout(self) -> int | None:
        return self.timeout

    def run(self) -> str:
        from celery.exceptions import SoftTimeLimitExceeded

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(SoftTimeLimitExceeded):
                time.sleep(0.1)
        return "survived"

    def on_failure(self, result: Any) -> None:
        from django.core.cache import cache

        cache.set(f"failure-recorded-by-{result.job_request_uuid}", os.getpid(), 300)


# --- scheduled jobs ---------------------------------------------------------------------------

#: Set in the beat and worker subprocesses of the end-to-end beat test only, so no other test's
#: beat ever fires this every-minute schedule.
BEAT_TEST_SCHEDULES = bool(os.environ.get("JOBKIT_TEST_SCHEDULES"))


@register_job
class EveryMinuteJob(Job):
    """Scheduled every minute, in the end-to-end beat test's processes."""

    schedule = Schedule.from_cron("* * * * *") if BEAT_TEST_SCHEDULES else None

    def run(self) -> str:
        return "tick"


@register_job
class ReportJob(Job):
    """Takes an argument, so the tests schedule it from JOBKIT_SCHEDULE."""

    def __init__(self, region: str = "eu"):
        self.region = region

    def run(self) -> str:
        return self.region


@register_job
class OneAtATimeJob(Job):
    """Skips an occurrence while an earlier occurrence is still waiting or running."""

    def should_enqueue(self, concurrency_key: str) -> bool:
        from django_jobkit.scheduling.schedule import previous_run_pending

        return not previous_run_pending(self, concurrency_key)

    def run(self) -> str:
        return "done"


@register_job
class SoakJob(Job):
    """Fails at random (retried twice), sometimes takes a while so that kills land mid-job."""

    def __init__(self, n: int, failure_rate: float = 0.1):
        self.n = n
        self.failure_rate = failure_rate

    def default_retries(self) -> int:
        return 2

    def run(self) -> int:
        import random

        if random.random() < 0.01:
            time.sleep(random.uniform(0.05, 0.3))
        if random.random() < self.failure_rate:
            raise RuntimeError("random failure")
        return self.n


@register_job
class ConnectionIdJob(Job):
    """The database's id for the connection this job ran on (PostgreSQL and MySQL only)."""

    def run(self) -> list[int]:
        from django.db import connection

        query = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
        with connection.cursor() as cursor:
            cursor.execute(query[connection.vendor])
            return [os.getpid(), cursor.fetchone()[0]]


@register_job(alias=["tests.jobs.OldNameJob", "legacy.jobs.RenamedJob"])
class RenamedJob(Job):
    """Was `legacy.jobs.RenamedJob`: rows and messages under the old names still run it."""

    def run(self) -> str:
        return "renamed"


@register_job
class SleepThenFailJob(Job):
    """Sleeps, then fails: revoked without terminate while it sleeps, it must not be retried."""

    def __init__(self, seconds: float = 2.0, *, retries: int = 3):
        self.seconds = seconds
        self.retries = retries

    def default_retries(self) -> int:
        return self.retries

    def run(self) -> None:
        time.sleep(self.seconds)
        raise RuntimeError("failed after sleeping")

    def on_aborted(self, result: Any) -> None:
        from django.core.cache import cache

        cache.set(f"aborted-{result.job_request_uuid}", result.status, 300)


@register_job
class FailsUntilFileJob(Job):
    """Fails until the file `path` exists, then succeeds: an operator's fix, then a retry."""

    def __init__(self, path: str, *, queue: str = "default"):
        self.path = path
        self.queue = queue

    def default_queue(self) -> str:
        return self.queue

    def run(self) -> str:
        if not os.path.exists(self.path):
            raise RuntimeError(f"{self.path} is missing")
        return "fixed"


def wait_for_file(path: str, timeout: float = 60.0) -> None:
    """Block until a test creates `path`: the test releases a job's next step, not a clock."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} was never created")
        time.sleep(0.01)


@register_job
class ProgressStepsJob(Job):
    """Reports `steps` steps, each once the test creates `<gate>/<n>` (n from 1)."""

    def __init__(self, gate: str, steps: int = 3):
        self.gate = gate
        self.steps = steps

    def run(self) -> int:
        for step in range(1, self.steps + 1):
            wait_for_file(os.path.join(self.gate, str(step)))
            self.report(step)
        return self.steps

    def report(self, step: int) -> None:
        self.set_progress(step / self.steps, f"step {step} of {self.steps}")


@register_job
class EmitStepsJob(ProgressStepsJob):
    """Emits one line per step instead of reporting progress."""

    def report(self, step: int) -> None:
        self.emit({"text": f"line {step}", "step": step})


@register_job
class ProgressInAtomicJob(Job):
    """Reports progress inside a transaction of its own, waits for `<gate>/release`, then
    rolls the transaction back."""

    def __init__(self, gate: str):
        self.gate = gate

    def run(self) -> str:
        from django.db import transaction

        with contextlib.suppress(RuntimeError), transaction.atomic():
            self.set_progress(0.5, "inside atomic")
            wait_for_file(os.path.join(self.gate, "release"))
            raise RuntimeError("roll back")
        return "rolled back"


@register_job
class ProgressFloodJob(Job):
    """Reports `calls` values as fast as it can, then fails or returns the writer threads
    this process has, by name."""

    def __init__(self, calls: int = 10000, fail: bool = False):
        self.calls = calls
        self.fail = fail

    def run(self) -> list[Any]:
        import threading

        for i in range(1, self.calls + 1):
            self.set_progress(i / self.calls, f"{i}/{self.calls}")
        if self.fail:
            raise RuntimeError("failed after reporting")
        writers = [t.ident for t in threading.enumerate() if t.name == "jobkit-progress"]
        return [os.getpid(), writers]


@register_job
class DeviceProbeJob(GPUJob):
    """Records what device its worker child was given, and when it held it."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds

    def run(self) -> dict[str, Any]:
        from billiard.process import current_process

        started = time.time()
        time.sleep(self.seconds)
        return {
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "order": os.environ.get("CUDA_DEVICE_ORDER"),
            "gpu": self.gpu,
            "device": self.device,
            "pid": os.getpid(),
            "child": getattr(current_process(), "index", None),
            "started": started,
            "ended": time.time(),
        }


@register_job
class CpuAllowedProbeJob(DeviceProbeJob):
    """A GPU job that may run on the CPU where no device is pinned."""

    allow_cpu = True


@register_job
class WarmResourceJob(Job):
    """Uses a resource whose loader appends a line to `log` each time it runs."""

    def __init__(self, log: str, key: str = "model"):
        self.log = log
        self.key = key

    def load(self) -> dict[str, Any]:
        with open(self.log, "a") as out:
            out.write(f"{os.getpid()}\n")
        return {"loaded_by": os.getpid()}

    def run(self) -> dict[str, Any]:
        model = self.resource(self.key, self.load)
        return {"pid": os.getpid(), "loaded_by": model["loaded_by"]}


@register_job
class GPUWarmResourceJob(WarmResourceJob, GPUJob):
    """WarmResourceJob on the GPU queue, holding its device `seconds` after the resource."""

    def __init__(self, log: str, seconds: float = 0.0):
        super().__init__(log)
        self.seconds = seconds

    def run(self) -> dict[str, Any]:
        from billiard.process import current_process

        ran = super().run()
        time.sleep(self.seconds)
        return {
            **ran,
            "child": current_process().index,
            "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }


def _hook_log(key: str, entry: Any) -> None:
    """Append to a list in the shared (file) cache: what a worker's hooks and receivers saw."""
    from django.core.cache import cache

    cache.set(key, [*cache.get(key, []), entry], 300)


@register_job
class HookJob(Job):
    """Succeeds or fails (retried as asked); its hooks log what they saw, or raise."""

    def __init__(self, tag: str, fail: bool = False, hook_raises: bool = False) -> None:
        self.tag = tag
        self.fail = fail
        self.hook_raises = hook_raises

    def run(self) -> str:
        if self.fail:
            raise ValueError(f"{self.tag} fails")
        return self.tag

    def _seen(self, hook: str, result: Any) -> None:
        from django_jobkit.models import JobResult

        # The hook runs once the result is committed: a fresh read finds it.
        committed = JobResult.objects.filter(pk=result.pk).exists()
        _hook_log(f"hooks-{self.tag}", [hook, result.status, result.retry_attempt, committed])
        if self.hook_raises:
            raise RuntimeError(f"{hook} of {self.tag} raises")

    def on_success(self, result: Any) -> None:
        self._seen("on_success", result)

    def on_failure(self, result: Any) -> None:
        self._seen("on_failure", result)

    def on_aborted(self, result: Any) -> None:
        self._seen("on_aborted", result)


def _log_signal(signal_name: str) -> Callable[..., None]:
    def receiver(sender: Any, result: Any, **kwargs: Any) -> None:
        tag = result.parameters["args"][0]
        _hook_log(f"signals-{tag}", [signal_name, result.status, result.retry_attempt])
        if result.parameters["kwargs"].get("hook_raises"):  # tests pass it by name
            raise RuntimeError(f"the {signal_name} receiver of {tag} raises")

    return receiver


def _connect_hook_signals() -> None:
    from django_jobkit import signals

    for name in ("job_succeeded", "job_failed", "job_aborted"):
        getattr(signals, name).connect(
            _log_signal(name), sender=HookJob, weak=False, dispatch_uid=f"tests-{name}"
        )


_connect_hook_signals()


@register_job
class LimitedJob(Job):
    """Sleeps `seconds` under a running limit of `running` on `key` (`and_key`: a second one)."""

    def __init__(
        self, key: str, running: int = 1, seconds: float = 0.0, and_key: str = "", tag: str = ""
    ) -> None:
        self.key = key
        self.running = running
        self.seconds = seconds
        self.and_key = and_key
        self.tag = tag

    def limits(self) -> list[Limit]:
        limits = [Limit(self.key, running=self.running)]
        if self.and_key:
            limits.append(Limit(self.and_key, running=1))
        return limits

    def run(self) -> str:
        time.sleep(self.seconds)
        return self.tag


@register_job
class BatchChildJob(Job):
    """Succeeds, fails (`fail`), or sleeps first (`seconds`): a child of a test's batch."""

    def __init__(
        self,
        n: int,
        fail: bool = False,
        seconds: float = 0.0,
        *,
        queue: str = "default",
        retries: int = 0,
    ) -> None:
        self.n = n
        self.fail = fail
        self.seconds = seconds
        self.queue = queue
        self.retries = retries

    def default_queue(self) -> str:
        return self.queue

    def default_retries(self) -> int:
        return self.retries

    def run(self) -> int:
        time.sleep(self.seconds)
        if self.fail:
            raise ValueError(f"child {self.n} fails")
        return self.n


@register_job
class BatchThenJob(Job):
    """A batch's `then`: logs, once per run, what `self.batch` says of the children."""

    def __init__(self, tag: str, *, queue: str = "default", retries: int = 0) -> None:
        self.tag = tag
        self.queue = queue
        self.retries = retries

    def default_queue(self) -> str:
        return self.queue

    def default_retries(self) -> int:
        return self.retries

    def run(self) -> dict[str, Any]:
        batch = self.batch
        assert batch is not None, "a then job sees its batch"
        counts = batch.counts()
        _hook_log(f"then-{self.tag}", [str(batch.uuid), counts])
        return counts


@register_job
class FanOutJob(Job):
    """A child of a batch that starts a batch of its own: `width` children sleeping `seconds`
    (longer than this job runs, so that its batch outlives it), with a `BatchThenJob(tag)`
    unless `then` is False; `depth` > 1 makes the children fan out in turn."""

    def __init__(
        self, tag: str, width: int = 2, seconds: float = 0.0, depth: int = 1, then: bool = True
    ) -> None:
        self.tag = tag
        self.width = width
        self.seconds = seconds
        self.depth = depth
        self.then = then

    def run(self) -> str:
        from django_jobkit import run_batch

        if self.depth > 1:
            jobs: list[Job] = [
                FanOutJob(f"{self.tag}-{i}", self.width, self.seconds, self.depth - 1, self.then)
                for i in range(self.width)
            ]
        else:
            jobs = [BatchChildJob(i, seconds=self.seconds) for i in range(self.width)]
        batch = run_batch(jobs, then=BatchThenJob(self.tag) if self.then else None)
        return str(batch.uuid)


@register_job
class RatedJob(Job):
    """Runs under `Limit(key, rate=rate)` on `queue`; returns when it was claimed (the moment
    the rate is checked at), as a timestamp."""

    def __init__(self, key: str, rate: str, queue: str = "default") -> None:
        self.key = key
        self.rate = rate
        self.queue = queue

    def default_queue(self) -> str:
        return self.queue

    def limits(self) -> list[Limit]:
        return [Limit(self.key, rate=self.rate)]

    def run(self) -> float:
        assert self._jobkit_process is not None
        return self._jobkit_process.started_at.timestamp()
