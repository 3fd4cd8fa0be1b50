"""Replacing one method of a third-party class, once and reversibly: jobkit's kombu fixes.

Each replacement carries a marker and the original (`__wrapped__`), so installing twice wraps
once and tests can put the library's own method back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MARKER = "jobkit_patch"


def patch_method(owner: type, name: str, make: Callable[[Any], Any]) -> None:
    """Replace `owner.name` with `make(original)`, unless jobkit already did."""
    original = getattr(owner, name)
    if is_patched(owner, name):
        return
    replacement = make(original)
    setattr(replacement, _MARKER, True)
    replacement.__wrapped__ = original
    setattr(owner, name, replacement)


def unpatch_method(owner: type, name: str) -> None:
    """Put the library's own method back (for tests)."""
    if is_patched(owner, name):
        setattr(owner, name, getattr(owner, name).__wrapped__)


def is_patched(owner: type, name: str) -> bool:
    return bool(getattr(getattr(owner, name), _MARKER, False))
