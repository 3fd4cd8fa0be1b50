"""Soak: a rate limit over a minute with three workers keeps within 10 % of its rate.

Run with `python3 dev.py test -m soak tests/soak` (CI's soak run)."""

from __future__ import annotations

import uuid

import pytest

from tests.jobs import RatedJob

pytestmark = [pytest.mark.soak, pytest.mark.worker, pytest.mark.slow]

RATE = 5  # per second


def test_a_rate_limit_holds_within_ten_percent_over_a_minute(start_worker_process, fresh_queue):
    queue = fresh_queue()
    for _ in range(3):
        start_worker_process(queues=[queue], concurrency=2)
    key = f"soak-rate-{uuid.uuid4().hex[:6]}"
    requests = [
        RatedJob(key, f"{RATE}/s", queue=queue).run_in_worker(queue=queue) for _ in range(RATE * 66)
    ]
    starts = sorted(r.wait(180).return_value for r in requests)
    first_minute = [t for t in starts if t < starts[0] + 60]
    print(f"\nrate {RATE}/s: {len(first_minute)} starts in the first minute (target {RATE * 60})")
    assert abs(len(first_minute) - RATE * 60) <= RATE * 60 * 0.10
