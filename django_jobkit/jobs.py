"""The `Job` class users subclass, and `register_job`, which makes a class runnable.

Registering stores the class under its stable name (`registry`) and compiles it to the Celery
task that workers consume (`execution.tasks`); `run_in_worker` is the enqueue path
(`enqueue.service`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from . import parameters, registry
from .conf import jobkit_settings
from .enqueue.limits import Limit
from .enqueue.service import Delay, enqueue
from .exceptions import InvalidJobClass
from .execution import gpu, progress, resources
from .execution.tasks import compile_task

if TYPE_CHECKING:
    from .models import JobBatch, JobProcess, JobRequest, JobResult
    from .scheduling.schedule import Schedule

J = TypeVar("J", bound="type[Job]")
R = TypeVar("R")


class Job:
    """A unit of background work. Subclass it, define `run()`, decorate with `@register_job`.

    The arguments given to `__init__` are captured and stored as JSON; the worker builds the
    job again from them, so `__init__` should only keep its arguments.
    """

    #: A cron `Schedule` on which the job is enqueued by the worker cluster.
    schedule: ClassVar[Schedule | None] = None
    #: The attempt running this job, set by the worker (`Job.batch` reads it).
    _jobkit_process: JobProcess | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Job:
        instance = super().__new__(cls)
        parameters.capture(instance, args, kwargs)
        return instance

    def run(self) -> Any:
        """The work. Its JSON-serialisable return value is stored on the result."""
        raise NotImplementedError(f"{type(self).__name__} must define run()")

    def default_queue(self) -> str:
        """The Celery queue to send the job to; not overridden, `CELERY_TASK_ROUTES` decides."""
        return "default"

    default_queue.default_rule = True  # type: ignore[attr-defined]

    def default_priority(self) -> int:
        """Higher runs first: 10 before 0 before -10."""
        return 0

    def default_retries(self) -> int:
        return 0

    def default_concurrency_key(self) -> str:
        """Non-empty: at most one pending-or-running job per (job class, key)."""
        return ""

    def calculate_retry_delay(self, attempt: int) -> int:
        """Seconds to wait before retry `attempt` (1 for the first retry)."""
        return 0

    def default_timeout(self) -> int | None:
        """Seconds the job may run before it is stopped and recorded ERRORED; None: no limit."""
        return None

    def set_progress(self, fraction: float, message: str = "") -> None:
        """Report how far `run()` got (0.0 to 1.0) and what it is doing, for the admin and
        the events stream; call it as often as is handy, writes are throttled.

        Stored on the running `JobProcess` through a connection of its own, so a transaction
        of the job's does not hide it, and copied to the result when the attempt ends. A
        fraction outside 0..1 raises `InvalidProgress` (a ValueError); the message is cut to
        255 characters. Outside a worker (`job.run()` called directly) it is checked and
        dropped.
        """
        progress.report(fraction, message)

    def emit(self, data: Any) -> None:
        """Publish one item of incremental output (a transcript segment, a row done) while
        `run()` goes on: stored in order on the running `JobProcess` (`output`), streamed by
        the events view as it arrives, and copied to the result when the attempt ends.

        Written like progress (a connection of its own, at most once per
        `JOBKIT_PROGRESS_INTERVAL`, nothing lost). `data` must be JSON; at most
        `JOBKIT_OUTPUT_MAX` items per attempt; either mistake raises `InvalidOutput`.
        Outside a worker it is checked and dropped.
        """
        progress.emit(data)

    @property
    def gpu(self) -> int | None:
        """The GPU pinned to the worker child running this job (its index), or None."""
        pin = gpu.current_pin()
        return None if pin is None else pin.gpu

    @property
    def device(self) -> str:
        """The device string frameworks take: "cuda:0" in a pinned child (the child sees
        only its own device), else "cpu"."""
        pin = gpu.current_pin()
        return (pin.device if pin is not None else None) or "cpu"

    def resource(
        self,
        key: str,
        loader: Callable[[], R],
        release: Callable[[R], None] | None = None,
    ) -> R:
        """A heavy object loaded once per worker child and reused by later jobs there: the
        first job to ask for `key` calls `loader()`, the next ones get what it returned.

        At most `JOBKIT_RESOURCES_MAX` stay loaded; the least recently used goes first,
        through `release(value)` (default: its `close()`, if any) and a garbage collection,
        so that device memory is freed. Load on `self.device`: it is this child's device.
        """
        value: R = resources.resources.get(key, loader, release)
        return value

    @property
    def batch(self) -> JobBatch | None:
        """In a worker: the batch this job is the `then` of, else the batch it belongs to
        (`run_batch`); None when neither, or outside a worker."""
        process = getattr(self, "_jobkit_process", None)
        if process is None:
            return None
        from .models import JobBatch  # not at import time: jobs.py may load before models

        batch = JobBatch.objects.of_then(process.root_uuid)
        if batch is None and process.batch_uuid is not None:
            batch = JobBatch.objects.of_uuid(process.batch_uuid)
        return batch

    def limits(self) -> list[Limit]:
        """Flow control: `Limit(key, running=N)`s this job must hold a slot of to run. A job
        over a limit waits as a request and is sent when a running one of its key ends."""
        return []

    limits.default_rule = True  # type: ignore[attr-defined]

    def on_success(self, result: JobResult) -> None:
        """Called with the SUCCESSFUL result, once it is committed (in the worker, or wherever
        the result was recorded). An exception here is logged and changes nothing."""

    on_success.default_rule = True  # type: ignore[attr-defined]

    def on_failure(self, result: JobResult) -> None:
        """Called with the ERRORED result of the chain's last attempt (no retry left, or an
        error a retry cannot mend), once it is committed; an earlier attempt that is retried
        calls nothing. An exception here is logged and changes nothing."""

    on_failure.default_rule = True  # type: ignore[attr-defined]

    def on_aborted(self, result: JobResult) -> None:
        """Called with the LOST or CANCELLED result of an attempt that did not end by itself
        (a LOST one may still be retried: `result.retry_job_request_uuid`)."""

    on_aborted.default_rule = True  # type: ignore[attr-defined]

    def should_enqueue(self, concurrency_key: str) -> bool:
        """Decide, under the key's lock, whether to write this job; False skips it.

        The default refuses a second job while one with the same class and non-empty key is
        waiting or running. Override for other policies ("at most 3 running per tenant"): the
        lock makes them race-free too.
        """
        if not concurrency_key:
            return True
        from .models import JobRequest  # not at import time: jobs.py may load before models

        return not JobRequest.objects.pending_or_running(
            registry.name_for(type(self)), concurrency_key
        )

    should_enqueue.default_rule = True  # type: ignore[attr-defined]

    def run_in_worker(
        self,
        *,
        queue: str | None = None,
        delay: Delay | None = None,
        priority: int | None = None,
        retries: int | None = None,
        retry_attempt: int = 0,
        concurrency_key: str | None = None,
        timeout: int | None = None,
    ) -> JobRequest | None:
        """Write a `JobRequest` and send it to a worker once the transaction commits.

        Returns the request, or None when `should_enqueue` said no. Options not given fall
        back to the `default_*` hooks.
        """
        return enqueue(
            self,
            queue=queue,
            delay=delay,
            priority=priority,
            retries=retries,
            retry_attempt=retry_attempt,
            concurrency_key=concurrency_key,
            timeout=timeout,
        )


class GPUJob(Job):
    """A job that needs a GPU: sent to `JOBKIT_GPU_QUEUE` ("gpu"), whose workers pin each
    child to one device (`execution.gpu`). In a child without a device it ends ERRORED at
    once, not retried, unless the class sets `allow_cpu = True` (then `self.device` is
    "cpu")."""

    #: True: run on a worker child without a device too, on the CPU.
    allow_cpu: ClassVar[bool] = False
    #: Read by the worker before `run()`: a GPU job needs a device unless `allow_cpu`.
    needs_gpu: ClassVar[bool] = True

    def default_queue(self) -> str:
        return jobkit_settings.GPU_QUEUE


@overload
def register_job(cls: J, /) -> J: ...
@overload
def register_job(*, alias: str | list[str] | None = None) -> Any: ...


def register_job(cls: Any = None, /, *, alias: str | list[str] | None = None) -> Any:
    """Register a Job class so workers can run it; usable as `@register_job` or with `alias=`.

    `alias` names the class had before a rename or move, so rows written under an old name
    still find it.
    """
    if cls is None:
        return lambda c: _register(c, alias)
    return _register(cls, alias)


def _register(cls: Any, alias: str | list[str] | None) -> type[Job]:
    if not (isinstance(cls, type) and issubclass(cls, Job)):
        raise InvalidJobClass(f"@register_job expects a Job subclass, got {cls!r}")
    if cls.run is Job.run:
        raise InvalidJobClass(f"{registry.job_class_name(cls)} must define run()")
    aliases = [alias] if isinstance(alias, str) else list(alias or [])
    name = registry.add(cls, aliases)
    for task_name in [name, *aliases]:
        # Messages already sent under an old name must still find a task to run them.
        compile_task(task_name)
    return cls
