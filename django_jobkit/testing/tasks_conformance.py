"""A conformance suite for backends of Django's tasks framework (`django.tasks`, or the
`django-tasks` backport on Django 5.2): what a backend claims, it does; what it does not claim,
the framework refuses honestly.

A project (or a backend's author) subclasses `TasksBackendConformance` in its own tests, names
the backend's alias and says how to run what was enqueued; pytest collects the `test_*`
methods::

    from django_jobkit.testing.tasks_conformance import TasksBackendConformance

    class TestMyBackend(TasksBackendConformance):
        backend_alias = "default"

        def run_enqueued(self):
            drain_my_queue()  # return once every due task has ended

Each test skips, saying why, where the backend does not claim the capability (its
`supports_*` flag is False) or the test class does not declare the behaviour (the class
attributes under "Declared semantics"). Where a flag is False, a test checks the framework's
refusal instead (a `run_after` raises `InvalidTask` on a backend without `supports_defer`).

The tasks enqueued are the plain functions of `tasks_conformance_tasks`, bound to the backend
under test by `make_task`: nothing else needs registering. Each test passes its own marker
(a fresh uuid) first, so that no test reads another's tasks.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from .._compat.tasks import Framework, require
from . import tasks_conformance_tasks as conformance_tasks

#: The exception class path a failed `fail` task records.
CONFORMANCE_ERROR_PATH = (
    f"{conformance_tasks.ConformanceError.__module__}."
    f"{conformance_tasks.ConformanceError.__qualname__}"
)


class _Rollback(Exception):
    """Raised inside `transaction.atomic()` to roll it back."""


class TasksBackendConformance:
    """The conformance tests for one backend; subclass it as `Test...` for pytest to collect.

    Configuration (class attributes; fixtures and database access come from pytest's own
    class marks, e.g. `pytestmark = [pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("jobkit_worker")]`: pytest-django only makes a test transactional
    when it knows so at collection, not when a fixture is requested on the way):

    - `backend_alias`: the backend's alias in `TASKS`.
    - `tasks_setting`: a whole `TASKS` setting to use during each test (None: the project's).
    - `queue_name`: the queue the suite's tasks go to (None: the framework's default,
      "default"); `other_queue_name`: a second queue of the backend, for `Task.using`
      (None: that part is skipped).

    Declared semantics (what the backend does beyond its flags; each False by default, so that
    the tests of it skip until the subclass says True):

    - `runs_tasks` (True by default): the backend runs what it enqueues (DummyBackend only
      stores it: False there, and every test that needs a task to have run skips).
    - `enqueue_waits_for_commit`: an enqueue inside `transaction.atomic()` that rolls back
      never runs, and never exists for `get_result`.
    - `ordered_priority`: tasks enqueued before `run_enqueued()` wait for it, then run
      highest priority first (needs `supports_priority`).
    - `run_signals_in_process` (True by default): `task_started` and `task_finished` reach
      receivers in the test's process (False where tasks run in another process).
    - `defer_seconds`: at least how far ahead the defer test puts `run_after` (default 1.5 s;
      it must outlast one `run_enqueued()`).

    Hooks (methods to override):

    - `run_enqueued()`: run every task enqueued so far that is due, returning once each has
      ended. The default does nothing: right for a backend that runs tasks as they are
      enqueued (ImmediateBackend).
    - `run_enqueued_after(moment)`: the same once `moment` has passed, for deferred tasks. The
      default sleeps until then and calls `run_enqueued()`; a backend with a clock of its own
      may advance it instead, but must not run a task before its `run_after`.
    - `fetch(result)`: the result as the backend knows it now. The default asks
      `get_result` where the backend claims `supports_get_result`, else returns `result`
      itself (ImmediateBackend's result is updated in place).
    """

    backend_alias: ClassVar[str] = "default"
    tasks_setting: ClassVar[dict[str, Any] | None] = None
    queue_name: ClassVar[str | None] = None
    other_queue_name: ClassVar[str | None] = None

    # Declared semantics.
    runs_tasks: ClassVar[bool] = True
    enqueue_waits_for_commit: ClassVar[bool] = False
    ordered_priority: ClassVar[bool] = False
    run_signals_in_process: ClassVar[bool] = True
    defer_seconds: ClassVar[float] = 1.5

    #: The test's own marker, the first argument of every task it enqueues.
    marker: str

    @pytest.fixture(autouse=True)
    def _conformance_setup(self) -> Iterator[None]:
        with contextlib.ExitStack() as stack:
            if self.tasks_setting is not None:
                stack.enter_context(override_settings(TASKS=self.tasks_setting))
            self.marker = uuid.uuid4().hex
            yield

    # Hooks.

    def run_enqueued(self) -> None:
        """Run every task enqueued so far that is due; return once each has ended."""

    def run_enqueued_after(self, moment: datetime) -> None:
        """Run every task due by `moment`, once `moment` has passed."""
        delay = (moment - timezone.now()).total_seconds()
        if delay > 0:
            time.sleep(delay + 0.05)
        self.run_enqueued()

    def fetch(self, result: Any) -> Any:
        """The result as the backend knows it now."""
        if self.backend.supports_get_result:
            return self.backend.get_result(result.id)
        return result

    # Helpers.

    @property
    def framework(self) -> Framework:
        return require()

    @property
    def backend(self) -> Any:
        return self.framework.module.task_backends[self.backend_alias]

    def make_task(
        self, func: Callable[..., Any], *, takes_context: bool = False, **using: Any
    ) -> Any:
        """`func` as a Task of the backend under test (on `queue_name`), with `using`'s
        overrides (priority, run_after, queue_name)."""
        options: dict[str, Any] = {"backend": self.backend_alias, "takes_context": takes_context}
        if self.queue_name is not None:
            options["queue_name"] = self.queue_name
        task = self.framework.module.task(func, **options)
        return task.using(**using) if using else task

    def run(self, task: Any, *args: Any, **kwargs: Any) -> Any:
        """Enqueue `task` with the marker and `args`, run what is enqueued, the result."""
        result = task.enqueue(self.marker, *args, **kwargs)
        self.run_enqueued()
        return self.fetch(result)

    def needs(self, flag: str) -> None:
        """Skip unless the backend claims `flag` (a `supports_*` attribute)."""
        if not getattr(self.backend, flag):
            pytest.skip(f"{self.backend_name} does not claim {flag}")

    def needs_declared(self, name: str) -> None:
        """Skip unless the test class declares `name = True`."""
        if not getattr(self, name):
            pytest.skip(f"{type(self).__name__} does not declare {name} = True")

    def needs_running(self) -> None:
        self.needs_declared("runs_tasks")

    @property
    def backend_name(self) -> str:
        backend_class = type(self.backend)
        return f"{backend_class.__module__}.{backend_class.__qualname__} ({self.backend_alias!r})"

    @contextlib.contextmanager
    def received(self, signal: Any) -> Iterator[list[tuple[Any, Any, str]]]:
        """(sender, task_result, status when sent) for each of this test's tasks that
        `signal` is sent for inside the block."""
        seen: list[tuple[Any, Any, str]] = []

        def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
            if task_result.args[:1] == [self.marker]:
                seen.append((sender, task_result, str(task_result.status)))

        signal.connect(receiver, weak=False)
        try:
            yield seen
        finally:
            signal.disconnect(receiver)

    def assert_ended(self, result: Any, status: str) -> None:
        statuses = self.framework.TaskResultStatus
        assert result.status == status, (
            f"{result.id}: {result.status}, expected {status}; errors: "
            + "; ".join(e.traceback for e in result.errors)
        )
        assert result.is_finished
        assert result.started_at is not None and result.finished_at is not None
        assert result.last_attempted_at is not None
        assert result.started_at <= result.finished_at
        if result.enqueued_at is not None:
            assert result.enqueued_at <= result.started_at
        assert status in (statuses.SUCCESSFUL, statuses.FAILED)

    # Capability flags: what is claimed works, what is not is refused.

    def test_capability_flags_are_booleans(self) -> None:
        for flag in ("supports_defer", "supports_async_task", "supports_get_result"):
            assert isinstance(getattr(self.backend, flag), bool), flag
        assert isinstance(self.backend.supports_priority, bool)
        assert self.backend.alias == self.backend_alias

    def test_async_task_runs_where_claimed(self) -> None:
        self.needs("supports_async_task")
        self.needs_running()
        result = self.run(self.make_task(conformance_tasks.async_echo), 1)
        self.assert_ended(result, self.framework.TaskResultStatus.SUCCESSFUL)
        assert result.return_value == {"marker": self.marker, "args": [1], "async": True}

    def test_async_task_refused_where_not_claimed(self) -> None:
        if self.backend.supports_async_task:
            pytest.skip(f"{self.backend_name} claims supports_async_task")
        with pytest.raises(self.framework.InvalidTask):
            self.make_task(conformance_tasks.async_echo)

    def test_priority_range_where_claimed(self) -> None:
        self.needs("supports_priority")
        fw = self.framework
        task = self.make_task(conformance_tasks.echo)
        for priority in (fw.MIN_PRIORITY, -1, fw.DEFAULT_PRIORITY, 1, fw.MAX_PRIORITY):
            prioritised = task.using(priority=priority)
            assert prioritised.priority == priority
            assert prioritised.enqueue(self.marker).task.priority == priority
        for wrong in (fw.MIN_PRIORITY - 1, fw.MAX_PRIORITY + 1, 1.5):
            with pytest.raises(fw.InvalidTask):
                task.using(priority=wrong).enqueue(self.marker)
        if self.runs_tasks:
            self.run_enqueued()

    def test_priority_refused_where_not_claimed(self) -> None:
        if self.backend.supports_priority:
            pytest.skip(f"{self.backend_name} claims supports_priority")
        fw = self.framework
        task = self.make_task(conformance_tasks.echo)
        assert task.using(priority=fw.DEFAULT_PRIORITY).priority == fw.DEFAULT_PRIORITY
        with pytest.raises(fw.InvalidTask):
            task.using(priority=fw.DEFAULT_PRIORITY + 1).enqueue(self.marker)

    def test_priority_orders_execution(self) -> None:
        self.needs("supports_priority")
        self.needs_running()
        self.needs_declared("ordered_priority")
        task = self.make_task(conformance_tasks.stamp)
        priorities = [-10, 50, 0, 100, -100, 1]
        results = [task.using(priority=p).enqueue(self.marker, str(p)) for p in priorities]
        self.run_enqueued()
        ran = sorted((self.fetch(r).return_value for r in results), key=lambda v: v["ns"])
        order = [int(v["label"]) for v in ran]
        assert order == sorted(priorities, reverse=True), (
            f"priorities ran in the order {order}, not highest first"
        )

    def test_get_result_where_claimed(self) -> None:
        self.needs("supports_get_result")
        fw = self.framework
        task = self.make_task(conformance_tasks.echo)
        result = task.enqueue(self.marker, (1, 2), key="value")
        if self.runs_tasks:
            self.run_enqueued()
        stored = self.backend.get_result(result.id)
        assert stored.id == result.id
        assert stored.backend == self.backend_alias
        assert stored.task.func is conformance_tasks.echo
        assert stored.args == [self.marker, [1, 2]]
        assert stored.kwargs == {"key": "value"}
        if self.runs_tasks:
            assert stored.status == fw.TaskResultStatus.SUCCESSFUL, (
                f"get_result says {stored.status} for a task that has run"
            )
            assert stored.return_value == {
                "marker": self.marker,
                "args": [[1, 2]],
                "kwargs": {"key": "value"},
            }
        else:
            assert stored.status == fw.TaskResultStatus.READY
        assert task.get_result(result.id).id == result.id
        result.refresh()
        assert result.status == stored.status
        with pytest.raises(fw.TaskResultMismatch):
            self.make_task(conformance_tasks.shaped).get_result(result.id)
        with pytest.raises(fw.TaskResultDoesNotExist):
            self.backend.get_result(f"no-such-result-{self.marker}")

    def test_get_result_where_not_claimed_is_refused_or_local(self) -> None:
        """Without `supports_get_result` a backend may still answer in its own thread
        (DummyBackend does); if it answers, the answer is right."""
        if self.backend.supports_get_result:
            pytest.skip(f"{self.backend_name} claims supports_get_result")
        fw = self.framework
        result = self.make_task(conformance_tasks.echo).enqueue(self.marker)
        try:
            stored = self.backend.get_result(result.id)
        except NotImplementedError:
            pass
        else:
            assert (stored.id, stored.args) == (result.id, [self.marker])
        with pytest.raises((NotImplementedError, fw.TaskResultDoesNotExist)):
            self.backend.get_result(f"no-such-result-{self.marker}")
        if self.runs_tasks:
            self.run_enqueued()

    # Status transitions: READY, RUNNING, then SUCCESSFUL or FAILED.

    def test_enqueue_gives_a_ready_result(self) -> None:
        statuses = self.framework.TaskResultStatus
        with self.received(self.framework.task_enqueued) as enqueued:
            result = self.make_task(conformance_tasks.echo).enqueue(self.marker, (1,), k=(2,))
        assert isinstance(result.id, str) and result.id
        assert result.backend == self.backend_alias
        assert result.task.func is conformance_tasks.echo
        assert result.args == [self.marker, [1]]
        assert result.kwargs == {"k": [2]}
        assert [(s, r.id, status) for s, r, status in enqueued] == [
            (type(self.backend), result.id, statuses.READY)
        ]
        if result.status == statuses.READY:  # not run yet (ImmediateBackend has run it)
            assert result.attempts == 0 and result.worker_ids == []
            assert result.errors == []
            assert result.started_at is None and result.finished_at is None
            with pytest.raises(ValueError):
                result.return_value  # noqa: B018
        else:
            assert result.status == statuses.SUCCESSFUL
        assert self.fetch(result).enqueued_at is not None
        if self.runs_tasks:
            self.run_enqueued()

    def test_a_running_task_sees_itself_running(self) -> None:
        self.needs_running()
        statuses = self.framework.TaskResultStatus
        task = self.make_task(conformance_tasks.observe, takes_context=True)
        result = self.run(task, 1, "two")
        self.assert_ended(result, statuses.SUCCESSFUL)
        seen = result.return_value
        assert seen["marker"] == self.marker
        assert seen["id"] == result.id
        assert seen["args"] == [1, "two"]
        assert seen["status"] == statuses.RUNNING
        if self.backend.supports_get_result:
            assert seen["stored_status"] == statuses.RUNNING, (
                f"get_result says {seen['stored_status']} for a task while it runs"
            )
        else:
            assert seen["stored_status"] is None

    def test_success(self) -> None:
        self.needs_running()
        result = self.run(self.make_task(conformance_tasks.echo), 1, key=None)
        self.assert_ended(result, self.framework.TaskResultStatus.SUCCESSFUL)
        assert result.errors == []
        assert result.return_value == {"marker": self.marker, "args": [1], "kwargs": {"key": None}}

    def test_failure_records_the_error(self) -> None:
        self.needs_running()
        result = self.run(self.make_task(conformance_tasks.fail))
        self.assert_ended(result, self.framework.TaskResultStatus.FAILED)
        with pytest.raises(ValueError):
            result.return_value  # noqa: B018
        assert result.errors, "a failed result without errors"
        error = result.errors[-1]
        assert error.exception_class_path == CONFORMANCE_ERROR_PATH
        assert error.exception_class is conformance_tasks.ConformanceError
        assert f"conformance failure {self.marker}" in error.traceback
        assert "ConformanceError" in error.traceback

    def test_return_value_is_json_normalised(self) -> None:
        self.needs_running()
        result = self.run(self.make_task(conformance_tasks.shaped))
        self.assert_ended(result, self.framework.TaskResultStatus.SUCCESSFUL)
        assert result.return_value == {
            "marker": self.marker,
            "tuple": [1, 2.5, "three", None, True],
            "nested": {"inner": [["a", 1]], "list": [[2]]},
        }

    # Attempts and the context.

    def test_attempts_and_worker_ids(self) -> None:
        self.needs_running()
        task = self.make_task(conformance_tasks.observe, takes_context=True)
        result = self.run(task)
        seen = result.return_value
        assert result.attempts == len(result.worker_ids) >= 1
        assert all(isinstance(w, str) and w for w in result.worker_ids)
        assert seen["attempt"] == len(seen["worker_ids"]) >= 1
        assert seen["worker_ids"] == result.worker_ids[: len(seen["worker_ids"])]
        failed = self.run(self.make_task(conformance_tasks.fail))
        assert failed.attempts == len(failed.worker_ids) >= 1
        assert len(failed.errors) >= 1

    def test_takes_context_needs_a_context_parameter_first(self) -> None:
        with pytest.raises(self.framework.InvalidTask):
            self.make_task(conformance_tasks.echo, takes_context=True)

    # Defer.

    def test_defer_waits_for_run_after(self) -> None:
        self.needs("supports_defer")
        statuses = self.framework.TaskResultStatus
        run_after = timezone.now().replace(microsecond=0) + timedelta(
            seconds=self.defer_seconds + 1
        )
        task = self.make_task(conformance_tasks.echo, run_after=run_after)
        assert task.run_after == run_after
        result = task.enqueue(self.marker)
        assert result.task.run_after == run_after
        assert result.status == statuses.READY, "a deferred task ran before its run_after"
        if not self.runs_tasks:
            return
        self.run_enqueued()
        waiting = self.fetch(result)
        assert timezone.now() < run_after, "defer_seconds is too short for run_enqueued()"
        assert waiting.status == statuses.READY, "a deferred task ran before its run_after"
        assert waiting.attempts == 0
        self.run_enqueued_after(run_after)
        ran = self.fetch(result)
        self.assert_ended(ran, statuses.SUCCESSFUL)
        assert ran.started_at >= run_after

    def test_defer_refused_where_not_claimed(self) -> None:
        if self.backend.supports_defer:
            pytest.skip(f"{self.backend_name} claims supports_defer")
        with pytest.raises(self.framework.InvalidTask):
            self.make_task(conformance_tasks.echo).using(
                run_after=timezone.now() + timedelta(hours=1)
            ).enqueue(self.marker)

    def test_naive_run_after_refused(self) -> None:
        self.needs("supports_defer")
        if not settings.USE_TZ:
            pytest.skip("USE_TZ is False: run_after is naive there")
        with pytest.raises(self.framework.InvalidTask):
            self.make_task(conformance_tasks.echo).using(
                run_after=datetime.now() + timedelta(hours=1),  # naive, on purpose
            ).enqueue(self.marker)

    # Transactions.

    def test_an_enqueue_rolled_back_never_runs(self) -> None:
        self.needs_declared("enqueue_waits_for_commit")
        fw = self.framework
        with self.received(fw.task_started) as started:
            with contextlib.suppress(_Rollback), transaction.atomic():
                result = self.make_task(conformance_tasks.echo).enqueue(self.marker)
                assert result.status == fw.TaskResultStatus.READY
                raise _Rollback
            if self.runs_tasks:
                self.run_enqueued()
        assert started == [], "a task enqueued in a rolled back transaction started"
        assert result.status == fw.TaskResultStatus.READY
        if self.backend.supports_get_result:
            with pytest.raises(fw.TaskResultDoesNotExist):
                self.backend.get_result(result.id)

    # Signals.

    def test_the_enqueued_signal(self) -> None:
        with self.received(self.framework.task_enqueued) as enqueued:
            result = self.make_task(conformance_tasks.echo).enqueue(self.marker)
        assert len(enqueued) == 1
        sender, task_result, status = enqueued[0]
        assert sender is type(self.backend)
        assert (task_result.id, task_result.backend) == (result.id, self.backend_alias)
        assert status == self.framework.TaskResultStatus.READY
        if self.runs_tasks:
            self.run_enqueued()

    def test_the_started_and_finished_signals(self) -> None:
        self.needs_running()
        self.needs_declared("run_signals_in_process")
        fw = self.framework
        statuses = fw.TaskResultStatus
        with self.received(fw.task_started) as started, self.received(fw.task_finished) as ended:
            succeeded = self.run(self.make_task(conformance_tasks.echo))
            failed = self.run(self.make_task(conformance_tasks.fail))
        backend_class = type(self.backend)
        assert [(s, r.id, status) for s, r, status in started] == [
            (backend_class, succeeded.id, statuses.RUNNING),
            (backend_class, failed.id, statuses.RUNNING),
        ]
        assert [(s, r.id, status) for s, r, status in ended] == [
            (backend_class, succeeded.id, statuses.SUCCESSFUL),
            (backend_class, failed.id, statuses.FAILED),
        ]

    # Task.using, and what the framework validates.

    def test_using_overrides_without_changing_the_task(self) -> None:
        fw = self.framework
        task = self.make_task(conformance_tasks.echo)
        assert task.using(backend=self.backend_alias) == task
        changes: dict[str, Any] = {}
        if self.backend.supports_priority:
            changes["priority"] = fw.DEFAULT_PRIORITY + 7
        if self.other_queue_name is not None:
            changes["queue_name"] = self.other_queue_name
        if not changes:
            pytest.skip(
                f"{self.backend_name} claims no priority and the class names no other_queue_name"
            )
        changed = task.using(**changes)
        for name, value in changes.items():
            assert getattr(changed, name) == value
            assert getattr(task, name) != value
        assert changed.func is task.func and changed.backend == self.backend_alias
        result = changed.enqueue(self.marker)
        for name, value in changes.items():
            assert getattr(result.task, name) == value
        if self.runs_tasks:
            self.run_enqueued()
            self.assert_ended(self.fetch(result), fw.TaskResultStatus.SUCCESSFUL)

    def test_only_module_level_functions_are_tasks(self) -> None:
        def local_function(marker: str) -> None:
            pass

        with pytest.raises(self.framework.InvalidTask):
            self.make_task(local_function)

    def test_unknown_queue_refused(self) -> None:
        if not self.backend.queues:
            pytest.skip(f"{self.backend_name} has QUEUES = []: any queue name is valid")
        with pytest.raises(self.framework.InvalidTask):
            self.make_task(conformance_tasks.echo, queue_name=f"no-such-queue-{self.marker}")

    def test_aenqueue_and_aget_result(self) -> None:
        fw = self.framework
        task = self.make_task(conformance_tasks.echo)
        result = async_to_sync(task.aenqueue)(self.marker, 1)
        assert result.args == [self.marker, 1]
        if self.runs_tasks:
            self.run_enqueued()
        if self.backend.supports_get_result:
            stored = async_to_sync(task.aget_result)(result.id)
            assert stored.id == result.id
            result = stored
        if self.runs_tasks:
            self.assert_ended(self.fetch(result), fw.TaskResultStatus.SUCCESSFUL)
