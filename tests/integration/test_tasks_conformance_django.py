"""The conformance suite against Django's own backends, to show it is fair: ImmediateBackend
passes every test for what it claims, DummyBackend (which only stores what it is given) every
test that does not need a task to run. On Django 5.2 the backends are the backport's."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from django_jobkit._compat.tasks import framework
from django_jobkit.testing.tasks_conformance import TasksBackendConformance

if framework is None:  # pragma: no cover - the test extra installs the backport
    pytest.skip("Django's tasks framework is not installed", allow_module_level=True)

BACKENDS = f"{framework.package}.backends"
IMMEDIATE = f"{BACKENDS}.immediate.ImmediateBackend"


def tasks_setting(alias: str, backend: str, **params: Any) -> dict[str, Any]:
    """`TASKS` with the backend under test beside a default (ImmediateBackend)."""
    return {"default": {"BACKEND": IMMEDIATE}, alias: {"BACKEND": backend, **params}}


class TestImmediateBackend(TasksBackendConformance):
    """Runs each task as it is enqueued, in the enqueuing thread: `run_enqueued` has nothing
    to do. It claims async tasks and priorities; it neither defers nor keeps results."""

    backend_alias = "immediate"
    tasks_setting = tasks_setting("immediate", IMMEDIATE, QUEUES=["default", "other"])
    other_queue_name = "other"


class TestImmediateBackendOnAnyQueue(TasksBackendConformance):
    """`QUEUES: []` allows any queue name; the suite's tasks go to one of their own."""

    backend_alias = "immediate"
    tasks_setting = tasks_setting("immediate", IMMEDIATE, QUEUES=[])
    queue_name = "conformance"


class TestDummyBackend(TasksBackendConformance):
    """Stores what is enqueued and never runs it: it claims defer, priority and async tasks
    (it accepts them), not `supports_get_result` (its results live in its own thread)."""

    backend_alias = "dummy"
    tasks_setting = tasks_setting("dummy", f"{BACKENDS}.dummy.DummyBackend")
    runs_tasks = False


# The suite bites: backends that claim what they do not do fail the test of the claim.


class EagerDeferBackend(import_string(IMMEDIATE)):  # type: ignore[misc]
    """Claims `supports_defer`, yet runs every task as it is enqueued."""

    supports_defer = True


class StaleResultsBackend(import_string(IMMEDIATE)):  # type: ignore[misc]
    """Claims `supports_get_result`, yet answers with the result as it was enqueued."""

    supports_get_result = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.stored: dict[str, Any] = {}

    def _execute_task(self, task_result: Any) -> None:
        self.stored[task_result.id] = copy.copy(task_result)
        super()._execute_task(task_result)

    def get_result(self, result_id: str) -> Any:
        try:
            return self.stored[result_id]
        except KeyError:
            raise framework.TaskResultDoesNotExist(result_id) from None


@pytest.mark.parametrize(
    ("backend", "test_name", "failure"),
    [
        (EagerDeferBackend, "test_defer_waits_for_run_after", "ran before its run_after"),
        (StaleResultsBackend, "test_get_result_where_claimed", "says READY for a task that has"),
        (StaleResultsBackend, "test_success", "READY, expected SUCCESSFUL"),
    ],
)
def test_the_suite_fails_a_backend_that_claims_what_it_does_not_do(
    backend: type, test_name: str, failure: str
) -> None:
    class TestLyingBackend(TasksBackendConformance):
        backend_alias = "lying"

    case = TestLyingBackend()
    case.marker = uuid.uuid4().hex
    path = f"{backend.__module__}.{backend.__qualname__}"
    with (
        override_settings(TASKS=tasks_setting("lying", path)),
        pytest.raises(AssertionError, match=failure),
    ):
        getattr(case, test_name)()
