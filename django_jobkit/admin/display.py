"""How the admin writes times, uuids, durations, statuses and errors, on lists and detail pages.

A list column has about a hundred pixels, so a uuid is shown by its first 8 characters with the
whole one on hover; a time is written to the second with its zone (a job's start and end are
often the same minute) and with a relative form that answers "how long ago" at a glance.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from ..timetext import absolute, relative

EMPTY = mark_safe('<span class="jobkit-empty">-</span>')

#: Background colour of each result status's badge: readable with white text in both themes.
STATUS_COLOURS = {
    "SUCCESSFUL": "#2e7d32",
    "ERRORED": "#c62828",
    "LOST": "#6a1b9a",
    "CANCELLED": "#616161",
    "DEFERRED": "#1565c0",
    # A queue's state (the queues page).
    "PAUSED": "#e65100",
    "RUNNING": "#2e7d32",
}

#: The leading `ClassName:` (dotted names too) that the engine writes before an error message.
ERROR_CLASS = re.compile(r"^([A-Za-z_][\w.]*):")

SUMMARY_LENGTH = 70


def short_uuid(value: uuid.UUID | str | None) -> SafeString:
    """The first 8 characters, never wrapped, with the whole uuid in the title (on hover)."""
    if value is None or value == "":
        return EMPTY
    text = str(value)
    return format_html(
        '<span class="jobkit-uuid" title="{}" style="white-space:nowrap;font-family:monospace">'
        "{}</span>",
        text,
        text[:8],
    )


def clipped(text: str, width: str, title: str = "") -> SafeString:
    """`text` on one line, cut with an ellipsis at `width` (a CSS length); whole on hover."""
    return format_html(
        '<span title="{}" style="display:inline-block;max-width:{};overflow:hidden;'
        'text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom">{}</span>',
        title or text,
        width,
        text,
    )


def timestamp(moment: datetime | None, now: datetime | None = None) -> SafeString:
    """The absolute time and, under it, the relative one; the ISO form on hover."""
    if moment is None:
        return EMPTY
    day, _, time = absolute(moment).partition(" ")
    # The day and the time may go on two lines in a narrow column; neither is broken.
    return format_html(
        '<span class="jobkit-time" title="{}"><span style="white-space:nowrap">{}</span> '
        '<span style="white-space:nowrap">{}</span></span><br>'
        '<span class="jobkit-relative" style="white-space:nowrap;opacity:.75">{}</span>',
        moment.isoformat(),
        day,
        time,
        relative(moment, now),
    )


def status_badge(status: str, label: str) -> SafeString:
    colour = STATUS_COLOURS.get(status, "#616161")
    return format_html(
        '<span class="jobkit-status jobkit-status-{}" style="background:{};color:#fff;'
        'padding:1px 6px;border-radius:8px;white-space:nowrap;font-size:.9em">{}</span>',
        status.lower(),
        colour,
        label,
    )


def error_class(error: str) -> str:
    """The class name an error message starts with (`RuntimeError: boom`), or ""."""
    match = ERROR_CLASS.match(error)
    return match.group(1) if match else ""


def error_summary(error: str, length: int = SUMMARY_LENGTH) -> str:
    """The error's first line without its class name, cut to `length` characters."""
    name = error_class(error)
    text = error[len(name) + 1 :] if name else error
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= length else line[: length - 1] + "…"


def error_cell(error: str) -> SafeString:
    """The class in bold (without its module) and a one-line summary that may wrap anywhere,
    so that the column takes the width the others leave; the whole message on hover."""
    if not error:
        return EMPTY
    return format_html(
        '<span class="jobkit-error" title="{}" style="display:block;min-width:9em;'
        'overflow-wrap:anywhere"><strong>{}</strong> {}</span>',
        error,
        error_class(error).rpartition(".")[2],
        error_summary(error),
    )


def preformatted(text: str) -> SafeString:
    """Text whose line breaks and indentation matter (tracebacks, JSON), in monospace."""
    if not text:
        return EMPTY
    return format_html(
        '<pre class="jobkit-pre" style="white-space:pre;overflow-x:auto;margin:0;'
        'font-family:monospace;font-size:12px">{}</pre>',
        text,
    )
