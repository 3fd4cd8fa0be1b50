"""Every error jobkit raises derives from `JobkitError` and from the builtin it means."""

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


class JobNotRegistered(JobkitError, LookupError):
    """The job class is not registered: decorate it with `@register_job`."""


class UnknownJobClass(JobkitError, LookupError):
    """A stored job names a class that is no longer registered (renamed or removed)."""


class ReferencedObjectMissing(JobkitError, LookupError):
    """A model instance passed to the job was deleted before the job ran."""


class CorruptJobParameters(JobkitError, ValueError):
    """The stored parameters of a job could not be decoded."""


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
