"""Replacing a method (or module function) of a third-party library, once, reversibly and only
where it was checked.

Each replacement carries a marker and the original (`__wrapped__`), so installing twice wraps
once and tests can put the library's own method back. Each patch module names the library's
version range it was checked against (`Upstream`); outside it the patch stays off with a
warning and the library's own behaviour applies, which is slower or has the bug the patch
works around, but never breaks a jobkit guarantee. Each also records a digest of the upstream
source it replaces (`REPLACES`), and a test fails when the installed library's code differs.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ..exceptions import JobkitCompatWarning

logger = logging.getLogger("django_jobkit.compat")


@dataclass(frozen=True)
class Upstream:
    """The versions of a distribution a patch was checked against: `low <= version < high`."""

    distribution: str
    low: tuple[int, ...]
    high: tuple[int, ...]

    def installed(self) -> tuple[int, ...] | None:
        try:
            text = metadata.version(self.distribution)
        except metadata.PackageNotFoundError:
            return None
        return tuple(int(part) for part in re.findall(r"\d+", text)[:3])

    def describe(self) -> str:
        low, high = ".".join(map(str, self.low)), ".".join(map(str, self.high))
        return f"{self.distribution} >= {low}, < {high}"

    def covers(self, version: tuple[int, ...] | None) -> bool:
        return version is not None and self.low <= version < self.high


def applies(upstream: Upstream, patch: str) -> bool:
    """Whether a patch may be installed on the installed library; warns once when not."""
    version = upstream.installed()
    if upstream.covers(version):
        return True
    found = ".".join(map(str, version)) if version else "not installed"
    message = (
        f"django-jobkit leaves {patch} off: {upstream.distribution} {found} is outside the "
        f"range it was checked against ({upstream.describe()}); the library's own behaviour "
        "applies"
    )
    warnings.warn(message, JobkitCompatWarning, stacklevel=2)
    logger.warning(message)
    return False


def source_digest(function: Any) -> str:
    """A short digest of a function's source: what a patch's `REPLACES` records."""
    original = getattr(function, "__wrapped__", function) if is_marked(function) else function
    return hashlib.sha256(inspect.getsource(original).encode()).hexdigest()[:16]


def is_marked(function: Any) -> bool:
    return bool(getattr(function, _MARKER, False))


_MARKER = "jobkit_patch"


def patch_method(owner: object, name: str, make: Callable[[Any], Any]) -> None:
    """Replace `owner.name` with `make(original)`, unless jobkit already did."""
    original = getattr(owner, name)
    if is_patched(owner, name):
        return
    replacement = make(original)
    setattr(replacement, _MARKER, True)
    replacement.__wrapped__ = original
    setattr(owner, name, replacement)


def unpatch_method(owner: object, name: str) -> None:
    """Put the library's own method back (for tests)."""
    if is_patched(owner, name):
        setattr(owner, name, getattr(owner, name).__wrapped__)


def is_patched(owner: object, name: str) -> bool:
    return bool(getattr(getattr(owner, name), _MARKER, False))
