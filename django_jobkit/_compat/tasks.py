"""Django's tasks framework, from wherever this project has it.

Django 6.0 ships it as `django.tasks`; on Django 5.2 the `django-tasks` backport (the optional
extra `django-jobkit[tasks]`) brings the same API as `django_tasks`, with two exceptions named
differently (`InvalidTaskError` there, `InvalidTask` in Django). Everything jobkit uses of the
framework is taken from here, so that the backend and the conformance suite are written once.

`framework` is None where neither is installed; `require()` says what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Framework:
    """The framework's pieces, under one set of names whichever package provides them."""

    package: str  # "django.tasks" or "django_tasks"
    module: ModuleType  # task, task_backends, default_task_backend, TaskResultStatus, ...
    BaseTaskBackend: Any
    Task: Any
    TaskContext: Any
    TaskError: Any
    TaskResult: Any
    TaskResultStatus: Any
    InvalidTask: Any
    TaskResultDoesNotExist: Any
    TaskResultMismatch: Any
    task_enqueued: Any
    task_started: Any
    task_finished: Any
    MIN_PRIORITY: int
    MAX_PRIORITY: int
    DEFAULT_PRIORITY: int
    normalize_json: Any


def _load(package: str, invalid_task: str, json_module: str) -> Framework | None:
    try:
        module = import_module(package)
    except ImportError:
        return None
    base = import_module(f"{package}.base")
    exceptions = import_module(f"{package}.exceptions")
    signals = import_module(f"{package}.signals")
    return Framework(
        package=package,
        module=module,
        BaseTaskBackend=import_module(f"{package}.backends.base").BaseTaskBackend,
        Task=base.Task,
        TaskContext=base.TaskContext,
        TaskError=base.TaskError,
        TaskResult=base.TaskResult,
        TaskResultStatus=base.TaskResultStatus,
        InvalidTask=getattr(exceptions, invalid_task),
        TaskResultDoesNotExist=exceptions.TaskResultDoesNotExist,
        TaskResultMismatch=exceptions.TaskResultMismatch,
        task_enqueued=signals.task_enqueued,
        task_started=signals.task_started,
        task_finished=signals.task_finished,
        MIN_PRIORITY=base.TASK_MIN_PRIORITY,
        MAX_PRIORITY=base.TASK_MAX_PRIORITY,
        DEFAULT_PRIORITY=base.DEFAULT_TASK_PRIORITY,
        normalize_json=import_module(json_module).normalize_json,
    )


#: Django's own first (6.0+), else the backport; None when neither is installed.
framework: Framework | None = _load("django.tasks", "InvalidTask", "django.utils.json") or _load(
    "django_tasks", "InvalidTaskError", "django_tasks.utils"
)


def require() -> Framework:
    """The framework, or an error saying how to get it."""
    if framework is None:
        raise ImproperlyConfigured(
            "Django's tasks framework is not installed: it comes with Django 6.0; on Django "
            "5.2 install the backport with `pip install django-jobkit[tasks]` (django-tasks)"
        )
    return framework
