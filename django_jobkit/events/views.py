"""The events endpoint: `GET ...?jobs=<request uuid>,<request uuid>` streams each job's state.

Include it with `path("jobs/", include("django_jobkit.urls"))`; the admin serves the same
view under its own URLs, so its pages need no include. Who may follow jobs is decided by
`JOBKIT_EVENTS_PERMISSION` (a dotted path to `callable(request, uuids) -> bool`), by default
active staff allowed to view both processes and results; anyone else gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase, HttpResponseForbidden
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET

from ..conf import jobkit_settings
from ..exceptions import InvalidEventsRequest
from .states import Follower, parse_jobs
from .stream import Stream, async_events, sync_events

Permission = Callable[[HttpRequest, list[uuid.UUID]], bool]


def staff_who_view_jobs(request: HttpRequest, uuids: list[uuid.UUID]) -> bool:
    """The default rule: what the admin's processes and results pages would show them."""
    user: Any = request.user
    return bool(
        user.is_active
        and user.is_staff
        and user.has_perms(["django_jobkit.view_jobprocess", "django_jobkit.view_jobresult"])
    )


def permission() -> Permission:
    path = jobkit_settings.EVENTS_PERMISSION
    rule: Permission = import_string(path) if path else staff_who_view_jobs
    return rule


@require_GET
def events(request: HttpRequest) -> HttpResponseBase:
    try:
        uuids = parse_jobs(request.GET.get("jobs", ""))
    except InvalidEventsRequest as exc:
        return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
    if not permission()(request, uuids):
        return HttpResponseForbidden(
            "not allowed to follow these jobs\n", content_type="text/plain; charset=utf-8"
        )
    stream = Stream(Follower(uuids))
    content = async_events(stream) if isinstance(request, ASGIRequest) else sync_events(stream)
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
