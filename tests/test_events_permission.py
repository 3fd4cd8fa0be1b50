"""A project's own rule for who may follow jobs on the events stream (a test's)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest


def only_even_uuids(request: HttpRequest, uuids: list[uuid.UUID]) -> bool:
    return all(u.int % 2 == 0 for u in uuids)
