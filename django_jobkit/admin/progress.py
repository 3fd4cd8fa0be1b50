"""Live progress bars on the processes pages, following the events stream.

A bar is rendered with the value the row had when the page was built, and
`django_jobkit/progress.js` moves it on: one `EventSource` per page for every bar on it, so a
page of a hundred running jobs holds one connection. The admin serves the events view under
its own URLs (staff login first, then the stream's own permission rule), so a project need not
include `django_jobkit.urls` for the admin's bars to move.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..events.views import events

EVENTS_URL_NAME = "django_jobkit_jobprocess_events"


def progress_bar(request_uuid: Any, fraction: float | None, message: str, events_url: str) -> str:
    """A `<progress>` bar and its message, marked for `progress.js` to follow the job."""
    text = f"{round(fraction * 100)}%" if fraction is not None else ""
    bar = (
        format_html('<progress max="1" value="{}">{}</progress>', fraction, text)
        if fraction is not None
        else SafeString("<progress max='1'></progress>")  # no value: indeterminate
    )
    return format_html(
        '<span class="jobkit-progress" data-jobkit-job="{}" data-jobkit-events="{}">'
        '{} <span class="jobkit-progress-text">{}</span></span>',
        request_uuid,
        events_url,
        bar,
        " ".join(part for part in (text, message) if part),
    )


def item_text(item: Any) -> str:
    """An emitted item as a line: itself when a str, its "text" when it has one, else JSON
    (what `progress.js` shows too)."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("text"), str):
        return item["text"]
    return json.dumps(item)


def output_list(request_uuid: Any, output: list[Any] | None, events_url: str) -> str:
    """The items a job emitted, as a list `progress.js` extends while the job runs."""
    return format_html(
        '<div class="jobkit-progress" data-jobkit-job="{}" data-jobkit-events="{}">'
        '<ol class="jobkit-output">{}</ol></div>',
        request_uuid,
        events_url,
        format_html_join("", "<li>{}</li>", ((item_text(i),) for i in output or ())),
    )


class ProgressAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """For the processes admin: the `progress_bar` column and field, and the events URL."""

    class Media:
        js = ("django_jobkit/progress.js",)
        css = {"all": ("django_jobkit/progress.css",)}

    def get_urls(self) -> list[URLPattern]:
        # Before the model's own URLs: their catch-all would take "events/" for an object id.
        stream = path("events/", self.admin_site.admin_view(events), name=EVENTS_URL_NAME)
        return [stream, *super().get_urls()]

    @admin.display(description=_("progress"), ordering="progress")
    def progress_bar(self, obj: Any) -> str:
        url = reverse(f"{self.admin_site.name}:{EVENTS_URL_NAME}")
        return progress_bar(obj.job_request_uuid, obj.progress, obj.progress_message, url)

    @admin.display(description=_("output so far"))
    def output_live(self, obj: Any) -> str:
        url = reverse(f"{self.admin_site.name}:{EVENTS_URL_NAME}")
        return output_list(obj.job_request_uuid, obj.output, url)
