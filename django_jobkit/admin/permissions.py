"""Each job action behind its own permission, and a forged POST of a forbidden one refused.

The permissions (`django_jobkit.cancel_job`, `retry_job`, `run_job_now`, `pause_queue`) are
declared on `JobRequest.Meta`; an action names one in `@admin.action(permissions=[...])`
and Django asks the admin's `has_<name>_permission`. Django leaves an action the user may not
use out of the changelist's menu, but a POST naming it anyway gets the changelist back with
"No action selected": here it gets 403, so that a refusal is a refusal, and logged as one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

#: The app label the job permissions are declared under.
APP_LABEL = "django_jobkit"


def has_job_permission(request: HttpRequest, codename: str) -> bool:
    return bool(request.user.has_perm(f"{APP_LABEL}.{codename}"))


def posted_action(request: HttpRequest) -> str | None:
    """The action a changelist POST asks for, chosen as Django chooses it: the changelist has
    an action menu above and below the list, and `index` says which one was used."""
    names = request.POST.getlist("action")
    try:
        index = int(request.POST.get("index", 0))
    except ValueError:
        index = 0
    try:
        return names[index]
    except IndexError:  # Django then reads the form's own field: the last value posted
        return request.POST.get("action") or None


class GuardedActionsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """An admin whose actions the user may not use answer 403 when posted."""

    def has_cancel_job_permission(self, request: HttpRequest) -> bool:
        return has_job_permission(request, "cancel_job")

    def has_retry_job_permission(self, request: HttpRequest) -> bool:
        return has_job_permission(request, "retry_job")

    def has_run_job_now_permission(self, request: HttpRequest) -> bool:
        return has_job_permission(request, "run_job_now")

    def has_pause_queue_permission(self, request: HttpRequest) -> bool:
        return has_job_permission(request, "pause_queue")

    def action_names(self) -> set[str]:
        """Every action this admin has, whoever asks (the site's and its own)."""
        own = {a if isinstance(a, str) else a.__name__ for a in self.actions or ()}
        return own | {name for name, _ in self.admin_site.actions}

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "POST" and "_save" not in request.POST:
            name = posted_action(request)
            if (
                name is not None
                and name in self.action_names()
                and name not in self.get_actions(request)
            ):
                raise PermissionDenied(f"{request.user} may not use the action {name!r} here")
        return super().changelist_view(request, extra_context)
