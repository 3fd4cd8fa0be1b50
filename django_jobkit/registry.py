"""Which Job classes exist, under which stable names, and the Celery task each compiles to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, overload

from .exceptions import JobNotRegistered, UnknownJobClass

if TYPE_CHECKING:
    from celery import Task

    from .jobs import Job

J = TypeVar("J", bound="type[Job]")

_classes: dict[str, type[Job]] = {}
_names: dict[type[Job], str] = {}
_tasks: dict[str, Task[Any, Any]] = {}
#: Every Celery task name a job compiles to, aliases included.
_task_names: set[str] = set()


def job_class_name(cls: type[Job]) -> str:
    """The stable name of a job class: its dotted path, which is also its Celery task name."""
    return f"{cls.__module__}.{cls.__qualname__}"


@overload
def register_job(cls: J, /) -> J: ...
@overload
def register_job(*, alias: str | list[str] | None = None) -> Any: ...


def register_job(cls: Any = None, /, *, alias: str | list[str] | None = None) -> Any:
    """Register a Job class so workers can run it; usable as `@register_job` or with `alias=`.

    `alias` names the class had before a rename or move, so rows written under an old name
    still find it.
    """
    if cls is None:
        return lambda c: _register(c, alias)
    return _register(cls, alias)


def _register(cls: type[Job], alias: str | list[str] | None) -> type[Job]:
    from .jobs import Job

    if not (isinstance(cls, type) and issubclass(cls, Job)):
        raise TypeError(f"@register_job expects a Job subclass, got {cls!r}")
    if cls.run is Job.run:
        raise TypeError(f"{job_class_name(cls)} must define run()")
    name = job_class_name(cls)
    aliases = [alias] if isinstance(alias, str) else list(alias or [])
    for key in [name, *aliases]:
        existing = _classes.get(key)
        # A module imported twice (autoreload, tests) re-registers the "same" class: replace.
        if existing is not None and job_class_name(existing) != name:
            raise ValueError(f"job name {key!r} is already used by {job_class_name(existing)}")
        _classes[key] = cls
    _names[cls] = name
    from .tasks import compile_task

    _tasks[name] = compile_task(name)
    for old_name in aliases:
        # Messages already sent under the old name must still find a task to run them.
        compile_task(old_name)
    _task_names.update([name, *aliases])
    return cls


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


def task_for(name: str) -> Task[Any, Any]:
    """The Celery task a registered job name compiles to (aliases resolve to the current name)."""
    return _tasks[_names[job_class_for(name)]]


def is_job_task(task_name: str | None) -> bool:
    """Whether a Celery task name is that of a registered job (or one of its aliases)."""
    return task_name in _task_names


def registered() -> dict[str, type[Job]]:
    """Every registered name (current names and aliases) with its class."""
    return dict(_classes)
