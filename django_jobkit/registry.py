"""Which Job classes exist, and under which stable names: a store of classes, nothing more.

Registering a class (making it a Celery task too) is `jobs.register_job`'s work; this module
only answers "which class is this name" and "which name is this class", so that every layer
can ask without importing Celery or the models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import JobNameTaken, JobNotRegistered, UnknownJobClass

if TYPE_CHECKING:
    from .jobs import Job

_classes: dict[str, type[Job]] = {}
_names: dict[type[Job], str] = {}


def job_class_name(cls: type[Any]) -> str:
    """The stable name of a job class: its dotted path, which is also its Celery task name."""
    return f"{cls.__module__}.{cls.__qualname__}"


def add(cls: type[Job], aliases: list[str]) -> str:
    """Store a class under its name and its former names (aliases); returns its name."""
    name = job_class_name(cls)
    for key in [name, *aliases]:
        existing = _classes.get(key)
        # A module imported twice (autoreload, tests) re-registers the "same" class: replace.
        if existing is not None and job_class_name(existing) != name:
            raise JobNameTaken(f"job name {key!r} is already used by {job_class_name(existing)}")
    for key in [name, *aliases]:
        _classes[key] = cls
    _names[cls] = name
    return name


def name_for(cls: type[Job]) -> str:
    try:
        return _names[cls]
    except KeyError:
        raise JobNotRegistered(
            f"{job_class_name(cls)} is not registered: decorate it with @register_job and make "
            "sure its module is imported (jobs.py modules of installed apps are found "
            "automatically)"
        ) from None


def job_class_for(name: str) -> type[Job]:
    try:
        return _classes[name]
    except KeyError:
        raise UnknownJobClass(
            f"unknown job class {name!r}: it was renamed or removed after the job was enqueued; "
            "keep old rows working with @register_job(alias=...)"
        ) from None


def is_registered(name: str) -> bool:
    return name in _classes


def is_job_task(task_name: str | None) -> bool:
    """Whether a Celery task name is that of a registered job (or one of its aliases)."""
    return task_name in _classes


def registered() -> dict[str, type[Job]]:
    """Every registered name (current names and aliases) with its class."""
    return dict(_classes)
