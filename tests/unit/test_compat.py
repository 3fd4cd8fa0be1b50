"""The patches of other libraries: each replaces code it was checked against, and only there.

A digest mismatch means the installed library changed the code a patch replaces or relies on:
read the new upstream code, check the patch against it, then update the digest and the
patch's `UPSTREAM` range.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any

import pytest

from django_jobkit._compat.celery import revoke
from django_jobkit._compat.kombu import filesystem, redis_acks, redis_clients
from django_jobkit._compat.patching import Upstream, applies, source_digest
from django_jobkit.exceptions import JobkitCompatWarning

PATCHES = [filesystem, redis_acks, redis_clients, revoke]


def resolve(path: str) -> Any:
    """`package.module.Class.method` to the function (the longest importable module first)."""
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            found = getattr(found, name)
        return found
    raise ImportError(path)


@pytest.mark.parametrize("patch", PATCHES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_the_upstream_code_a_patch_replaces_is_the_code_it_was_checked_against(
    patch: ModuleType,
):
    assert patch.UPSTREAM.covers(patch.UPSTREAM.installed()), (
        f"{patch.UPSTREAM.distribution} {patch.UPSTREAM.installed()} is outside "
        f"{patch.UPSTREAM.describe()}: the patch is off; check it against this version"
    )
    for path, digest in patch.REPLACES.items():
        assert source_digest(resolve(path)) == digest, f"{path} changed upstream"


def test_a_patch_outside_its_range_stays_off_with_a_warning(caplog):
    future = Upstream("kombu", (99,), (100,))
    with pytest.warns(JobkitCompatWarning, match=r"kombu 5\.\d+\.\d+ is outside .*>= 99, < 100"):
        assert applies(future, "a patch") is False
    assert "leaves a patch off" in caplog.text


def test_a_patch_inside_its_range_applies_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert applies(Upstream("kombu", (1,), (99,)), "a patch") is True


def test_a_missing_library_leaves_the_patch_off():
    with pytest.warns(JobkitCompatWarning, match="not installed"):
        assert applies(Upstream("no-such-distribution", (1,), (2,)), "a patch") is False


def test_outside_its_range_an_install_changes_nothing(monkeypatch):
    from kombu.transport import filesystem as kombu_filesystem

    from django_jobkit._compat.patching import is_patched

    filesystem.uninstall()
    try:
        monkeypatch.setattr(filesystem, "UPSTREAM", Upstream("kombu", (99,), (100,)))
        with pytest.warns(JobkitCompatWarning):
            assert filesystem.install() is False
        assert not is_patched(kombu_filesystem.Channel, "_put")
    finally:
        monkeypatch.undo()
        assert filesystem.install() is True


def test_outside_its_range_the_revoke_hook_stays_off(monkeypatch):
    from celery.worker import control

    from django_jobkit._compat.patching import is_patched
    from django_jobkit.execution.revokes import before_revoke

    assert is_patched(control, "_revoke")  # installed by the app's ready()
    revoke.uninstall()
    try:
        monkeypatch.setattr(revoke, "UPSTREAM", Upstream("celery", (99,), (100,)))
        with pytest.warns(JobkitCompatWarning, match=r"leaves the revoke hook .* off"):
            assert revoke.install(before_revoke) is False
        assert not is_patched(control, "_revoke")
    finally:
        monkeypatch.undo()
        assert revoke.install(before_revoke) is True
