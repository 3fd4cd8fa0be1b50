"""What `Job.set_progress` accepts: a number from 0 to 1 and a str, cut to 255 characters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from django_jobkit.exceptions import InvalidProgress
from django_jobkit.execution.progress import validated


@pytest.mark.parametrize("fraction", [-0.01, 1.0001, float("nan"), float("inf"), 2])
def test_a_fraction_outside_zero_to_one_is_refused_by_name(fraction):
    with pytest.raises(ValueError, match=r"fraction must be from 0 to 1"):
        validated(fraction, "")


@pytest.mark.parametrize("fraction", ["0.5", None, True, [0.5]])
def test_a_fraction_that_is_not_a_number_is_refused_by_name(fraction):
    with pytest.raises(InvalidProgress, match=r"fraction must be a number from 0 to 1"):
        validated(fraction, "")


def test_numbers_of_any_kind_become_floats():
    assert validated(0, "") == (0.0, "")
    assert validated(1, "done") == (1.0, "done")
    assert validated(Decimal("0.25"), "") == (0.25, "")


def test_a_long_message_is_cut_to_what_the_column_holds():
    assert validated(0.5, "x" * 300) == (0.5, "x" * 255)


def test_a_message_that_is_not_a_str_is_refused():
    with pytest.raises(InvalidProgress, match="message must be a str"):
        validated(0.5, 12)
