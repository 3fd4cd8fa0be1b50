"""What every record's admin page shares: read-only rows and their timestamps, to the second."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .counting import BoundedCountAdmin
from .display import timestamp
from .permissions import GuardedActionsAdmin


class ReadOnlyAdmin(BoundedCountAdmin, GuardedActionsAdmin):
    """Editing a row by hand would break the engine's invariants; counting a large table
    would make its list slow (`counting`)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def action_checkbox(self, obj: Any) -> SafeString:
        """The stock checkbox, written directly: Django renders it through the form widget's
        template, a template render per row that takes a third of a 100-row list's time."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )


def time_column(field: str, description: str) -> Any:
    """A display function showing `field` as `display.timestamp` does, sortable by the field."""

    @admin.display(description=description, ordering=field)
    def show(self: Any, obj: Any) -> SafeString:
        value: datetime | None = getattr(obj, field)
        return timestamp(value)

    show.__name__ = f"{field}_display"
    return show
