"""Columns and detail fields every job record shares (request, process and result alike):
what the job is (`JobFields`), its arguments and its place in the retry chain."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString

from . import chain
from .base import ReadOnlyAdmin, time_column
from .display import clipped, short_uuid
from .json_view import pretty

#: The detail page's first rows, the same on the three records' pages.
JOB_FIELDS = (
    "request_full",
    "job_class",
    "attempt",
    "queue",
    "priority",
    "concurrency_key",
    "timeout",
)
CHAIN_FIELDS = ("neighbours", "attempts", "root", "fired_by")
JOB_READONLY = (
    "request_full",
    "attempt",
    "parameters_pretty",
    "created",
    "neighbours",
    "attempts",
    "root",
    "fired_by",
)


class JobFieldsAdmin(ReadOnlyAdmin):
    created = time_column("created_at", "enqueued")

    @admin.display(description="job", ordering="job_request_uuid")
    def request(self, obj: Any) -> SafeString:
        """The short uuid over the class's own name (its module on hover): the first column,
        the link to the page, narrow enough to leave room for the rest at 1,366 px."""
        return format_html(
            "{}<br>{}",
            short_uuid(obj.job_request_uuid),
            clipped(obj.job_class.rpartition(".")[2], "10em", obj.job_class),
        )

    @admin.display(description="request uuid")
    def request_full(self, obj: Any) -> str:
        return str(obj.job_request_uuid)

    @admin.display(description="attempt")
    def attempt(self, obj: Any) -> str:
        return f"{obj.retry_attempt + 1} of {obj.retries + 1}"

    @admin.display(description="root uuid")
    def root(self, obj: Any) -> str:
        return str(obj.root_uuid)

    @admin.display(description="parameters")
    def parameters_pretty(self, obj: Any) -> SafeString:
        return pretty(obj.parameters, self.admin_site)

    @admin.display(description="previous and next attempt")
    def neighbours(self, obj: Any) -> SafeString:
        return chain.neighbours(obj)

    @admin.display(description="attempts of this job")
    def attempts(self, obj: Any) -> SafeString:
        return chain.all_attempts(obj)

    @admin.display(description="fired by")
    def fired_by(self, obj: Any) -> SafeString:
        return chain.fired_by(obj)
