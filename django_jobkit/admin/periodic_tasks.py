"""django-celery-beat's periodic task form without the job tasks, which cannot be scheduled.

Beat's form offers every task the Celery app knows (`TaskSelectWidget.tasks_as_choices`:
all names not starting with "celery."), jobkit's job tasks among them; a periodic task naming
one fails at every tick, since a job task takes the id of a request already written, not the
job's arguments. jobkit replaces beat's stock `PeriodicTaskAdmin` with a subclass whose form
leaves the job tasks out of the choices and refuses them typed by hand, pointing to
`django_jobkit.enqueue`. A project that registers its own periodic task admin keeps it
(check W008 warns about such rows whichever admin made them).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django_celery_beat.admin import (
    PeriodicTaskAdmin,
    PeriodicTaskForm,
    TaskChoiceField,
    TaskSelectWidget,
)
from django_celery_beat.models import PeriodicTask

from .. import registry
from ..scheduling.enqueue_task import ENQUEUE_TASK


def job_task_refusal(task: str) -> str:
    return (
        f"{task} is a job's own task, which runs requests already written and cannot be "
        f"scheduled by itself: choose the task {ENQUEUE_TASK} with the keyword arguments "
        f'{{"job": "{task}", "args": [...], "kwargs": {{...}}}}, or give the job a Schedule '
        "in the code."
    )


class SchedulableTaskSelect(TaskSelectWidget):  # type: ignore[misc]
    """Beat's task choices, minus the job tasks."""

    def tasks_as_choices(self) -> tuple[tuple[str, str], ...]:
        return tuple(
            choice for choice in super().tasks_as_choices() if not registry.is_job_task(choice[0])
        )


class SchedulableTaskField(TaskChoiceField):  # type: ignore[misc]
    widget = SchedulableTaskSelect


class JobkitPeriodicTaskForm(PeriodicTaskForm):  # type: ignore[misc]
    regtask = SchedulableTaskField(
        label=PeriodicTaskForm.base_fields["regtask"].label, required=False
    )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        task = data.get("task")
        if registry.is_job_task(task):  # typed into "Task (custom)"
            self.add_error("task", forms.ValidationError(job_task_refusal(str(task)), "job_task"))
        return data


class JobkitPeriodicTaskAdmin(PeriodicTaskAdmin):  # type: ignore[misc]
    form = JobkitPeriodicTaskForm


def install(site: admin.AdminSite) -> bool:
    """Swap beat's stock periodic task admin for jobkit's; a project's own admin is kept."""
    if not site.is_registered(PeriodicTask):
        return False
    if type(site.get_model_admin(PeriodicTask)) is not PeriodicTaskAdmin:
        return False
    site.unregister(PeriodicTask)
    site.register(PeriodicTask, JobkitPeriodicTaskAdmin)
    return True
