"""`Limit` and what a request stores of a job's `limits()`: bad input named, nothing half-kept."""

from __future__ import annotations

import pytest

from django_jobkit import Limit
from django_jobkit.enqueue.limits import parse_rate, stored
from django_jobkit.exceptions import InvalidJobOption, InvalidJobOptionType


def test_a_limit_is_stored_as_its_key_running_and_rate():
    assert stored([Limit("user-1", running=2)], "J") == [{"key": "user-1", "running": 2}]
    assert stored([Limit("api", rate="100/m")], "J") == [
        {"key": "api", "running": None, "rate": [100, 60]}
    ]
    assert stored([Limit("a", running=1, rate="2/s")], "J") == [
        {"key": "a", "running": 1, "rate": [2, 1]}
    ]
    assert parse_rate(" 5 / h ") == (5, 3600)
    assert stored([], "J") is None and stored(None, "J") is None


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: Limit("", running=1), InvalidJobOption, "non-empty"),
        (lambda: Limit("k" * 256, running=1), InvalidJobOption, "at most 255"),
        (lambda: Limit(3, running=1), InvalidJobOptionType, "has type int"),  # type: ignore[arg-type]
        (lambda: Limit("k", running=0), InvalidJobOption, "at least 1"),
        (lambda: Limit("k", running=True), InvalidJobOptionType, "has type bool"),
        (lambda: Limit("k", running="2"), InvalidJobOptionType, "has type str"),  # type: ignore[arg-type]
        (lambda: Limit("k"), InvalidJobOption, "needs running=N, rate='N/m', or both"),
        (lambda: Limit("k", rate="100/d"), InvalidJobOption, "is not a rate"),
        (lambda: Limit("k", rate="0/s"), InvalidJobOption, "is not a rate"),
        (lambda: Limit("k", rate=100), InvalidJobOptionType, "has type int"),  # type: ignore[arg-type]
    ],
)
def test_a_bad_limit_says_what_is_wrong(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_limits_lists_are_refused_with_the_job_class_named():
    with pytest.raises(InvalidJobOptionType, match=r"J.limits\(\) returned str"):
        stored("k", "J")
    with pytest.raises(InvalidJobOptionType, match=r"J.limits\(\) holds 'k'"):
        stored(["k"], "J")
    with pytest.raises(InvalidJobOption, match="names the key 'k' twice"):
        stored([Limit("k", running=1), Limit("k", running=2)], "J")
