"""The conformance suite's queue-side hooks against a small in-process queue backend.

Django's ImmediateBackend runs every task as it is enqueued and DummyBackend never runs one,
so neither reaches the tests of a queue: a deferred task left waiting by `run_enqueued()`,
priorities run highest first, an enqueue rolled back with its transaction, results read back
with `get_result`. `InProcessQueueBackend` claims all of that (tasks wait in memory, stored as
their transaction commits, until `drain()` runs what is due), so every test of the suite runs
here, and the hooks a queue backend overrides are exercised before jobkit's backend uses them.
"""

from __future__ import annotations

import copy
import itertools
import traceback
import uuid
from typing import Any

import pytest
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.crypto import get_random_string

from django_jobkit._compat.tasks import framework
from django_jobkit.testing.tasks_conformance import TasksBackendConformance

if framework is None:  # pragma: no cover - the test extra installs the backport
    pytest.skip("Django's tasks framework is not installed", allow_module_level=True)

fw = framework


class InProcessQueueBackend(fw.BaseTaskBackend):  # type: ignore[misc,name-defined]
    """Tasks wait in this backend (one per thread, as the framework's handler keeps them) from
    their transaction's commit until `drain()` runs those due, highest priority first."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.results: dict[str, Any] = {}
        self.order: dict[str, int] = {}
        self.sequence = itertools.count()
        self.worker_id = get_random_string(32)

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        self.validate_task(task)
        result = fw.TaskResult(
            task=task,
            id=get_random_string(32),
            status=fw.TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )

        def store() -> None:
            self.results[result.id] = result
            self.order[result.id] = next(self.sequence)
            fw.task_enqueued.send(type(self), task_result=result)

        self.when_committed(store)
        return copy.deepcopy(result)

    def when_committed(self, store: Any) -> None:
        transaction.on_commit(store)

    def get_result(self, result_id: str) -> Any:
        try:
            return copy.deepcopy(self.results[result_id])
        except KeyError:
            raise fw.TaskResultDoesNotExist(result_id) from None

    def drain(self) -> None:
        """Run what is due, highest priority first (then oldest), until nothing due waits."""
        while True:
            now = timezone.now()
            due = [
                r
                for r in self.results.values()
                if r.status == fw.TaskResultStatus.READY and self.is_due(r, now)
            ]
            if not due:
                return
            self._run(min(due, key=self.run_order))

    def is_due(self, result: Any, now: Any) -> bool:
        return result.task.run_after is None or result.task.run_after <= now

    def run_order(self, result: Any) -> tuple[int, int]:
        return (-result.task.priority, self.order[result.id])

    def _run(self, result: Any) -> None:
        statuses = fw.TaskResultStatus
        started = timezone.now()
        object.__setattr__(result, "status", statuses.RUNNING)
        object.__setattr__(result, "started_at", started)
        object.__setattr__(result, "last_attempted_at", started)
        result.worker_ids.append(self.worker_id)
        fw.task_started.send(type(self), task_result=result)
        task = result.task
        try:
            context = [fw.TaskContext(task_result=result)] if task.takes_context else []
            value = task.call(*context, *result.args, **result.kwargs)
            object.__setattr__(result, "_return_value", fw.normalize_json(value))
        except Exception as error:
            error_class = type(error)
            result.errors.append(
                fw.TaskError(
                    exception_class_path=f"{error_class.__module__}.{error_class.__qualname__}",
                    traceback="".join(traceback.format_exception(error)),
                )
            )
            object.__setattr__(result, "status", statuses.FAILED)
        else:
            object.__setattr__(result, "status", statuses.SUCCESSFUL)
        object.__setattr__(result, "finished_at", timezone.now())
        fw.task_finished.send(type(self), task_result=result)


class TestInProcessQueueBackend(TasksBackendConformance):
    backend_alias = "queue"
    tasks_setting = {
        "default": {"BACKEND": f"{fw.package}.backends.immediate.ImmediateBackend"},
        "queue": {
            "BACKEND": f"{__name__}.InProcessQueueBackend",
            "QUEUES": ["default", "other"],
        },
    }
    # Outside a test transaction, so that an enqueue's commit stores it.
    pytestmark = pytest.mark.django_db(transaction=True)
    other_queue_name = "other"
    enqueue_waits_for_commit = True
    ordered_priority = True
    defer_seconds = 0.5

    def run_enqueued(self) -> None:
        self.backend.drain()


# The suite bites: queue backends that claim what they do not do fail the test of the claim.


class FifoQueueBackend(InProcessQueueBackend):
    """Runs the oldest first, whatever the priority."""

    def run_order(self, result: Any) -> tuple[int, int]:
        return (0, self.order[result.id])


class EarlyQueueBackend(InProcessQueueBackend):
    """Runs deferred tasks at once."""

    def is_due(self, result: Any, now: Any) -> bool:
        return True


class UncommittedQueueBackend(InProcessQueueBackend):
    """Stores a task as it is enqueued, whether or not its transaction commits."""

    def when_committed(self, store: Any) -> None:
        store()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("backend", "test_name", "failure"),
    [
        (FifoQueueBackend, "test_priority_orders_execution", "not highest first"),
        (EarlyQueueBackend, "test_defer_waits_for_run_after", "ran before its run_after"),
        (UncommittedQueueBackend, "test_an_enqueue_rolled_back_never_runs", "rolled back"),
    ],
)
def test_the_suite_fails_a_queue_that_does_not_do_what_it_declares(
    backend: type, test_name: str, failure: str
) -> None:
    class TestLyingQueue(TestInProcessQueueBackend):
        tasks_setting = {
            "default": TestInProcessQueueBackend.tasks_setting["default"],
            "queue": {"BACKEND": f"{__name__}.{backend.__qualname__}"},
        }

    case = TestLyingQueue()
    case.marker = uuid.uuid4().hex
    with (
        override_settings(TASKS=TestLyingQueue.tasks_setting),
        pytest.raises(AssertionError, match=failure),
    ):
        getattr(case, test_name)()
