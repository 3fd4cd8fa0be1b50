"""Times and lengths of time in words, as the admin and the console write them: to the second
with the zone, and relative ("3 min ago", "in 2 h"). Plain text; the admin adds its markup."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def relative(moment: datetime, now: datetime | None = None) -> str:
    """ "3 min ago", "in 2 h": the largest unit that is at least one, rounded down."""
    delta = (moment - (now or timezone.now())).total_seconds()
    text = span(abs(delta))
    if abs(delta) < 1:
        return "now"
    return f"in {text}" if delta > 0 else f"{text} ago"


def span(seconds: float) -> str:
    """A length of time in its largest whole unit: "45 s", "3 min", "2 h", "5 d"."""
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def duration(seconds: float | None) -> str:
    """A duration to the millisecond under a minute (jobs are often short), else as `span`."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def absolute(moment: datetime) -> str:
    """To the second, in the current time zone, with the zone's name: 2026-12-02 18:03:12 UTC."""
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()


def age(since: datetime, now: datetime | None = None) -> str:
    """How long ago `since` was, as `span` writes it ("0 s" for a time in the future)."""
    seconds = ((now or timezone.now()) - since).total_seconds()
    return span(max(seconds, 0.0))
