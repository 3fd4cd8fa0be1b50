"""The concurrency key holds under a real race: 8 OS processes, 20 keys, one job per key."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from django_jobkit.models import JobRequest
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 8
KEYS = [f"key-{i}" for i in range(20)]


def test_eight_processes_racing_create_exactly_one_job_per_key(test_database_env, unique_queue):
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.integration.race_enqueue", unique_queue, *KEYS],
            cwd=ROOT,
            env=test_database_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    try:
        for racer in racers:  # every racer has set up Django and is waiting at the barrier
            assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
        for racer in racers:
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    for racer, (_out, err) in zip(racers, outputs, strict=True):
        assert racer.returncode == 0, err
    created = sum(int(out.split()[-1]) for out, _ in outputs)
    per_key = Counter(
        JobRequest.objects.filter(queue=unique_queue).values_list("concurrency_key", flat=True)
    )
    assert per_key == Counter(KEYS)  # every key exactly once
    assert created == len(KEYS)
