"""Stored JSON (parameters, return values) as indented text, model references linked.

A job's model argument is stored as `{"__jobkit__": "model", "model": "auth.user", "pk": 5}`
(`parameters`); on the detail page that object is a link to the user's admin change page, when
the admin site has the model registered, so an operator goes from a failed job to its user in
one click. Nothing is fetched: the link is built from the label and pk alone (the row may be
gone; its page then says so).
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from ..parameters import TAG
from .display import EMPTY

INDENT = "  "


def pretty(value: Any, site: admin.AdminSite | None = None) -> SafeString:
    """`value` as indented JSON in a <pre>, each model reference a link to its admin page."""
    if value is None:
        return EMPTY
    site = site or admin.site
    return format_html(
        '<pre class="jobkit-json" style="white-space:pre;overflow-x:auto;margin:0;'
        'font-family:monospace;font-size:12px">{}</pre>',
        mark_safe(_render(value, 0, site)),  # every piece is escaped by `_render`
    )


def reference_url(value: Any, site: admin.AdminSite) -> str | None:
    """The admin change page of a stored model reference; None if it is not one or the
    model is not registered on `site`."""
    if not (isinstance(value, dict) and value.get(TAG) == "model"):
        return None
    label, pk = value.get("model"), value.get("pk")
    if not isinstance(label, str) or pk is None or isinstance(pk, dict | list):
        return None
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return None
    if not site.is_registered(model):
        return None
    meta = model._meta
    try:
        return reverse(f"{site.name}:{meta.app_label}_{meta.model_name}_change", args=[pk])
    except NoReverseMatch:
        return None


def _render(value: Any, depth: int, site: admin.AdminSite) -> str:
    url = reference_url(value, site)
    if url is not None:
        text = json.dumps(value, sort_keys=False, cls=DjangoJSONEncoder)
        return str(
            format_html(
                '<a href="{}" title="{} pk={}">{}</a>', url, value["model"], value["pk"], text
            )
        )
    pad, inner = INDENT * depth, INDENT * (depth + 1)
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{escape(json.dumps(str(key)))}: {_render(item, depth + 1, site)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        items = [f"{inner}{_render(item, depth + 1, site)}" for item in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return str(escape(json.dumps(value, cls=DjangoJSONEncoder)))
