"""Pure pieces of the admin's actions: which action a changelist POST names, and batch sizes."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from django_jobkit.admin.permissions import posted_action
from django_jobkit.models import JobResult


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"action": ["retry_selected", ""], "index": "0"}, "retry_selected"),
        ({"action": ["", "delete_selected"], "index": "1"}, "delete_selected"),  # lower menu
        ({"action": "delete_selected", "post": "yes"}, "delete_selected"),  # confirmation page
        ({"action": ["retry_selected"], "index": "7"}, "retry_selected"),
        ({"action": ["", "retry_selected"], "index": "-1"}, "retry_selected"),
        ({"action": ["retry_selected"], "index": "x"}, "retry_selected"),  # as Django reads it
        ({"index": "0"}, None),
    ],
)
def test_the_posted_action_is_the_one_django_would_run(data, expected):
    assert posted_action(RequestFactory().post("/", data)) == expected


def test_a_batch_needs_a_row():
    with pytest.raises(ValueError, match="at least one row"):
        next(JobResult.objects.all().in_pk_batches(0))
