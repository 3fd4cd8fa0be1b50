"""Every error jobkit raises derives from `JobkitError` and from the builtin it means.

`DeferJob` is not an error but a request a job makes from `run()`, so it derives from
`Exception` only: `except JobkitError` around jobkit calls never swallows it.
"""

from __future__ import annotations

from datetime import datetime, timedelta


class JobkitError(Exception):
    """Base class of django-jobkit's errors."""


class InvalidJobParameter(JobkitError, TypeError):
    """A job argument cannot be stored as JSON; nothing was written.

    Pass plain data (str, int, float, bool, None, lists, tuples, dicts), dates and times,
    UUIDs, Decimals or saved model instances instead.
    """


class InvalidJobOption(JobkitError, ValueError):
    """An option given to `run_in_worker` (queue, delay, priority, ...) is out of range."""


class InvalidJobOptionType(InvalidJobOption, TypeError):
    """An option given to `run_in_worker` has the wrong type (a str where an int belongs)."""


class InvalidJobClass(JobkitError, TypeError):
    """`@register_job` was given something other than a Job subclass that defines `run()`."""


class JobNameTaken(JobkitError, ValueError):
    """Two job classes (or a class and an alias) claim the same name: rename one or its alias."""


class JobNotRegistered(JobkitError, LookupError):
    """The job class is not registered: decorate it with `@register_job`."""


class InvalidEnqueueArguments(JobkitError, ValueError):
    """A `django_jobkit.enqueue` message names no registered job, or gives arguments or
    options the job refuses; nothing was written."""


class UnknownJobClass(JobkitError, LookupError):
    """A stored job names a class that is no longer registered (renamed or removed)."""


class ReferencedObjectMissing(JobkitError, LookupError):
    """A model instance passed to the job was deleted before the job ran."""


class CorruptJobParameters(JobkitError, ValueError):
    """The stored parameters of a job could not be decoded."""


class InvalidSchedule(JobkitError, ValueError):
    """A cron expression, time zone or `JOBKIT_SCHEDULE` entry is not valid."""


class InvalidProgress(JobkitError, ValueError):
    """`Job.set_progress` was given a fraction outside 0..1 (or not a number), or a message
    that is not a str: pass `set_progress(done / total, "message")`."""


class InvalidOutput(JobkitError, ValueError):
    """`Job.emit` was given data that JSON cannot carry, or one item more than
    `JOBKIT_OUTPUT_MAX`: emit small JSON items (a transcript segment, a row's id) and keep bulk
    results in files or the return value."""


class InvalidEventsRequest(JobkitError, ValueError):
    """The events stream was asked for no jobs, too many, or something that is not a request
    uuid: `?jobs=<request uuid>,<request uuid>`."""


class WaitTimeout(JobkitError, TimeoutError):
    """`JobRequest.wait(timeout)` found no result in time; the job may still run later."""


class JobkitCompatWarning(RuntimeWarning):
    """A patch of another library is off: its installed version was not checked with it."""


class DeferJob(Exception):
    """Raise inside `run()` to run the job again later without counting a failure.

    `delay` takes the same forms as `run_in_worker(delay=...)`. With `increment_retries=True`
    the deferral uses up one retry, so a job cannot defer itself forever.
    """

    def __init__(
        self, *, delay: float | timedelta | datetime, increment_retries: bool = False
    ) -> None:
        super().__init__(f"deferred by {delay!r}")
        self.delay = delay
        self.increment_retries = increment_retries


class AttemptFailed(JobkitError, RuntimeError):
    """Raised by a job's Celery task after jobkit recorded an attempt that did not succeed.

    It is only a report: Celery logs it on one line without a traceback, sends `task-failed`
    and Flower shows FAILURE, and nothing is retried or delivered again (the task lists it in
    `throws`). Retries are jobkit's, from the recorded result.
    """


class JobErrored(AttemptFailed):
    """The attempt was recorded ERRORED; the message is the recorded error."""


class JobLost(AttemptFailed):
    """The attempt was recorded LOST (its child or worker died while it ran)."""


class JobCancelled(AttemptFailed):
    """The attempt was recorded CANCELLED."""


class NotAJobMessage(JobkitError, ValueError):
    """A job's Celery task was called with something other than the uuid of a request.

    A job task takes only the uuid of a request jobkit wrote (`run_in_worker`); calling it the
    plain-Celery way (`.delay(...)`, `celery call`, a hand-made periodic task) runs nothing.
    """


class InvalidGPUDevices(JobkitError, ValueError):
    """`JOBKIT_GPU_DEVICES` (or `JOBKIT_GPU_JOBS_PER_DEVICE`) cannot be understood, or the
    worker has more children than device slots; the worker does not start."""


class NoGPUAssigned(JobkitError, RuntimeError):
    """A `GPUJob` (without `allow_cpu`) ran in a worker child that has no device: recorded
    ERRORED at once and never retried, since another try would land on the same kind of
    worker."""


class InvalidResource(JobkitError, ValueError):
    """`Job.resource` was given an empty or non-str key or a loader that is not callable, or
    `JOBKIT_RESOURCES_MAX` is below 1."""
