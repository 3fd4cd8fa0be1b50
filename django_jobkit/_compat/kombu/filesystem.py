"""Whole message files for kombu's filesystem transport, the embedded default's broker.

kombu writes a message by creating its file under the final name and then writing into it; a
consumer polling the folder can take the file in between, read it empty, and die of the
JSONDecodeError (celery/kombu#1551: the worker stops with "Unrecoverable error"). jobkit makes
the write atomic: the message is written under a name no consumer matches, then renamed into
place, which POSIX and Windows do in one step within a folder.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

from ..patching import Upstream, applies, patch_method, unpatch_method

#: Checked against kombu 5.7; outside this range kombu's own (non-atomic) write applies.
UPSTREAM = Upstream("kombu", (5, 7), (5, 8))
#: The upstream code replaced, by digest of its source (tests/unit/test_compat.py).
REPLACES = {"kombu.transport.filesystem.Channel._put": "a88e2ceb3927a99a"}

#: Prefix of a message file being written: not `<number>_<uuid>.<queue>.msg`, so never read.
PARTIAL_PREFIX = ".partial-"


def install() -> bool:
    """Patch kombu's filesystem channel once; False when the transport cannot be imported."""
    try:
        from kombu.transport import filesystem
    except ImportError:  # pragma: no cover - kombu always ships it
        return False
    if not applies(UPSTREAM, "the atomic filesystem-transport write (kombu#1551)"):
        return False
    patch_method(filesystem.Channel, "_put", lambda original: _put)
    return True


def _put(self: Any, queue: str, payload: Any, **kwargs: Any) -> None:
    from time import monotonic

    from kombu.exceptions import ChannelError
    from kombu.utils.encoding import str_to_bytes
    from kombu.utils.json import dumps

    # The name kombu gives a message (its order and its queue), written under a prefix.
    name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
    final = os.path.join(self.data_folder_out, name)
    partial = os.path.join(self.data_folder_out, PARTIAL_PREFIX + name)
    try:
        with open(partial, "wb", buffering=0) as file:
            file.write(str_to_bytes(dumps(payload)))
        os.replace(partial, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise ChannelError(f"Cannot add file {final!r} to directory") from exc


def uninstall() -> None:
    """Restore kombu's own method (for tests)."""
    from kombu.transport import filesystem

    unpatch_method(filesystem.Channel, "_put")
