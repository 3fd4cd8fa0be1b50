"""The lists' filters: bounded choices of a column's values, error class, and one job's
retry chain.

Django's stock filter for a column offers a `DISTINCT` over the whole table, which reads every
row of a table holding millions. Here the choices come from a bounded sample instead: the
values among the latest `VALUE_SAMPLE` rows (`latest_values`, on the primary key's index),
the registered job classes for `job_class`, and the value chosen, so that a value from an
older page stays shown as active. The error classes offered are those of the latest
`ERROR_CLASS_SAMPLE` results; filtering by a class matches the `ClassName:` the engine writes
at the start of `error`.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from ..registry import registered
from .display import error_class

#: How many of the latest rows a column filter reads to offer its choices.
VALUE_SAMPLE = 1000

#: How many of the latest results the error-class filter reads to offer its choices.
ERROR_CLASS_SAMPLE = 1000
#: At most this many classes are offered, the most frequent first.
ERROR_CLASS_CHOICES = 20


class ErrorClassFilter(admin.SimpleListFilter):
    title = "error class (among the latest results)"
    parameter_name = "error_class"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        heads = model_admin.model.objects.latest_error_heads(ERROR_CLASS_SAMPLE)
        counts = Counter(name for name in map(error_class, heads) if name)
        choices = [name for name, _ in counts.most_common(ERROR_CLASS_CHOICES)]
        current = self.value()
        if current and current not in choices:
            choices.append(current)  # chosen from an older page: still shown as active
        return [(name, name) for name in sorted(choices)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        name = self.value()
        if not name:
            return queryset
        return queryset.with_error_class(name)  # type: ignore[attr-defined]


class RetryChainFilter(admin.SimpleListFilter):
    """`?root_uuid=`: the attempts of one job, shown in the sidebar as the active filter, with
    "All" to leave it (the "all attempts" links of the list and the detail page set it)."""

    title = "retry chain"
    parameter_name = "root_uuid"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        current = self.value()
        if not current:
            return []
        return [(current, f"attempts of {current[:8]}")]

    def has_output(self) -> bool:
        return bool(self.value())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        try:
            root = uuid.UUID(value)
        except ValueError:
            raise admin.options.IncorrectLookupParameters(
                ValidationError(f"root_uuid={value!r} is not a uuid")
            ) from None
        return queryset.filter(root_uuid=root)


class BoundedValuesFilter(admin.SimpleListFilter):
    """A column's values as choices, from a bounded sample (see the module docstring)."""

    field = ""
    #: Also offer the registered job classes (for `job_class`: known without reading rows).
    with_registered = False

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        choices = model_admin.model.objects.latest_values(self.field, VALUE_SAMPLE)
        if self.with_registered:
            choices |= set(registered())
        current = self.value()
        if current:
            choices.add(current)
        return [(value, value) for value in sorted(choices)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(**{self.field: value})


def values_filter(field: str, title: str, *, with_registered: bool = False) -> type:
    """A `BoundedValuesFilter` of `field`, under the query parameter the stock filter uses
    (`?queue=slow`), so that links built for the stock filter keep working."""
    return type(
        f"{field.title().replace('_', '')}Filter",
        (BoundedValuesFilter,),
        {
            "field": field,
            "title": title,
            "parameter_name": field,
            "with_registered": with_registered,
        },
    )


JobClassFilter = values_filter("job_class", "job class", with_registered=True)
QueueFilter = values_filter("queue", "queue")
WorkerNameFilter = values_filter("worker_name", "worker")
