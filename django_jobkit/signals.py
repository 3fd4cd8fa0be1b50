"""Django signals for code that is not the job class: a job about to be written, and the moments
a job's own hooks hear of.

`job_enqueuing` is sent just before a request is written (every enqueue: `run_in_worker`, the
bulk and batch paths, retries and deferrals), with `sender` the job's class, `job` the job and
`request` the unsaved `JobRequest`, after its concurrency key's `should_enqueue` said yes. It is
there so that tracing and similar integrations stay out of the enqueue path: a receiver may add
metadata to `request.headers` (assign a new dict: a retry's headers may be the very dict of its
earlier attempt). Like Django's `pre_save`, a receiver that raises stops the enqueue; one that
is not connected costs nothing.

The others are sent after the result row is committed, with `sender` the job's class (None
when this process does not know the class) and `result` the `JobResult`:

- `job_succeeded`: an attempt ended SUCCESSFUL.
- `job_failed`: the last attempt of a chain ended ERRORED: no retry is left, or the error is
  one a retry cannot mend.
- `job_aborted`: an attempt was LOST or CANCELLED (a LOST one may still be retried: see
  `result.retry_job_request_uuid`).

A receiver that raises is logged with the job's uuid and never changes the result, as with
the job's own hooks.
"""

from __future__ import annotations

from django.dispatch import Signal

job_enqueuing = Signal()
job_succeeded = Signal()
job_failed = Signal()
job_aborted = Signal()
