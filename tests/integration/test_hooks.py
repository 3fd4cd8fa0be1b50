"""Hooks and signals wait for the commit of the transaction that recorded the result."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.db import transaction

from django_jobkit import signals
from django_jobkit.models import JobResult
from tests.jobs import HookJob, NoopJob

pytestmark = pytest.mark.django_db(transaction=True)


def test_cancelling_in_a_transaction_calls_on_aborted_at_its_commit():
    tag = f"hook-{uuid.uuid4().hex[:12]}"
    request = HookJob(tag).run_in_worker(delay=3600)
    with transaction.atomic():
        result = request.cancel()
        assert result is not None and result.status == JobResult.Status.CANCELLED
        assert cache.get(f"hooks-{tag}") is None  # not yet: the cancel could still roll back
        assert cache.get(f"signals-{tag}") is None
    assert cache.get(f"hooks-{tag}") == [["on_aborted", "CANCELLED", 0, True]]
    assert cache.get(f"signals-{tag}") == [["job_aborted", "CANCELLED", 0]]


def test_a_rolled_back_cancel_calls_nothing():
    tag = f"hook-{uuid.uuid4().hex[:12]}"
    request = HookJob(tag).run_in_worker(delay=3600)
    with pytest.raises(RuntimeError), transaction.atomic():
        request.cancel()
        raise RuntimeError("roll back")
    assert cache.get(f"hooks-{tag}") is None and cache.get(f"signals-{tag}") is None
    request.cancel()


@pytest.mark.django_db(transaction=False)  # inside the test's transaction: callbacks wait
def test_a_class_without_hooks_and_a_signal_without_receivers_cost_no_callback(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as callbacks:
        NoopJob("quiet").run_in_worker(delay=3600).cancel()
        HookJob("loud").run_in_worker(delay=3600).cancel()
    # A delayed job sends nothing at commit: the one callback is HookJob's hooks.
    assert len(callbacks) == 1
    assert not signals.job_aborted.has_listeners(NoopJob)
