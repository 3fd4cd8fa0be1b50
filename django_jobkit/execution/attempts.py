"""The next attempt of a job, as a request: the one way an attempt after the first is enqueued.

The engine's own retries and deferrals (`outcomes`) and a retry asked for by hand (`manual`)
both come here, so that every attempt of a chain goes through the same enqueue path
(the concurrency key's lock, `should_enqueue`, the INSERT, the send after commit) and
carries the chain's options, parameters, headers and root unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..enqueue.service import enqueue

if TYPE_CHECKING:
    from ..jobs import Job
    from ..models import JobRequest
    from ..models.records import JobFields


def enqueue_attempt(earlier: JobFields, attempt: int, delay: Any = None) -> JobRequest | None:
    """Enqueue attempt number `attempt` of the chain `earlier` (a process or a result)
    belongs to, with its parameters and options; None when `should_enqueue` (the
    concurrency key's dedup rule) refused it.

    `delay` None asks the job's `calculate_retry_delay(attempt)`.
    """
    job: Job = earlier.load_job()
    if delay is None:
        delay = job.calculate_retry_delay(attempt)
    return enqueue(
        job,
        queue=earlier.queue,
        delay=delay,
        priority=earlier.priority,
        retries=earlier.retries,
        retry_attempt=attempt,
        concurrency_key=earlier.concurrency_key,
        timeout=earlier.timeout,
        parameters=earlier.parameters,
        root_uuid=earlier.root_uuid,
        batch_uuid=earlier.batch_uuid,
        headers=earlier.headers,
    )
