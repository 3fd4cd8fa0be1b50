"""The admin's history of job actions: one `LogEntry` per job acted on.

Django's own `log_change` writes one row per call; an action applied to every job matching
a filter writes its entries one INSERT per batch instead, with the same fields, so that each
job's "History" page and the admin's recent actions show who did what to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest

#: How many jobs an action loads, acts on and logs at a time.
BATCH_SIZE = 500


def log_each(request: HttpRequest, entries: list[tuple[Any, str]]) -> None:
    """Record `(job, message)` pairs as changes made by the request's user."""
    if not entries:
        return
    content_type = ContentType.objects.get_for_model(type(entries[0][0]), for_concrete_model=False)
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                user_id=request.user.pk,  # type: ignore[misc]  # staff: never anonymous
                content_type_id=content_type.pk,
                object_id=str(job.pk),
                object_repr=str(job)[:200],
                action_flag=CHANGE,
                change_message=message,
            )
            for job, message in entries
        ]
    )
