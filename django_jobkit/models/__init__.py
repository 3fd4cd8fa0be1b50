"""The records of a job's life and the query layer over them (the only place that queries)."""

from .querysets import COPIED
from .records import (
    JobBatch,
    JobFields,
    JobHold,
    JobLock,
    JobProcess,
    JobQueue,
    JobRateStart,
    JobRequest,
    JobResult,
    JobWorker,
)

__all__ = [
    "COPIED",
    "JobBatch",
    "JobFields",
    "JobHold",
    "JobLock",
    "JobProcess",
    "JobQueue",
    "JobRateStart",
    "JobRequest",
    "JobResult",
    "JobWorker",
]
