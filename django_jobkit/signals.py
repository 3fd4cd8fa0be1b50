"""Django signals for the moments a job's own hooks hear of, for code that is not the job class.

Each is sent after the result row is committed, with `sender` the job's class (None when this
process does not know the class) and `result` the `JobResult`:

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

job_succeeded = Signal()
job_failed = Signal()
job_aborted = Signal()
