"""`JobRequest.wait` gives up with `WaitTimeout`, a `JobkitError` and a `TimeoutError`."""

from __future__ import annotations

import pytest

from django_jobkit.exceptions import JobkitError, WaitTimeout
from django_jobkit.models import JobRequest


@pytest.mark.django_db
def test_wait_without_a_result_raises_wait_timeout_naming_the_request():
    request = JobRequest(job_class="tests.jobs.NoopJob")
    with pytest.raises(WaitTimeout, match=str(request.job_request_uuid)) as caught:
        request.wait(timeout=0.05)
    assert isinstance(caught.value, JobkitError)
    assert isinstance(caught.value, TimeoutError)
