"""The concurrency key holds under a real race: 8 OS processes, 20 keys, one job per key."""

from __future__ import annotations

from collections import Counter

import pytest

from django_jobkit.models import JobRequest
from tests.conftest import race

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 8
KEYS = [f"key-{i}" for i in range(20)]


def test_eight_processes_racing_create_exactly_one_job_per_key(test_database_env, unique_queue):
    outputs = race(
        ["-m", "tests.integration.race_enqueue", unique_queue, *KEYS], test_database_env, RACERS
    )
    created = sum(int(out.split()[-1]) for out in outputs)
    per_key = Counter(
        JobRequest.objects.filter(queue=unique_queue).values_list("concurrency_key", flat=True)
    )
    assert per_key == Counter(KEYS)  # every key exactly once
    assert created == len(KEYS)
